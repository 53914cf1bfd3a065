using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Belay.Core.Encryption;
using Belay.TestSupport;

namespace Belay.Core.Tests.Encryption;

/// <summary>
/// Every vector of the C2SP age test kit (testkit/README.md): what must decrypt does, to the
/// payload's hash; what must fail fails at the layer the vector names (armor, header, HMAC,
/// payload, no match), so that a parsing bug is never masked as a later failure. Vectors for
/// what Belay does not implement (scrypt passphrases, ML-KEM hybrid identities) must fail
/// without releasing a byte.
/// </summary>
public sealed class AgeTestVectorTests
{
    private static string Folder => Path.Combine(BelayBinaries.RepoRoot, "tests", "Belay.Core.Tests", "Encryption", "testkit");

    public static TheoryData<string> Vectors()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(Folder).Select(Path.GetFileName).OfType<string>().Where(f => !f.Contains('.', StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            data.Add(file);
        }
        return data;
    }

    [Fact]
    public void TheKitIsThere()
    {
        Assert.True(Vectors().Count > 140, $"expected the 143 vectors of the C2SP age test kit in {Folder}");
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void EachVectorEndsAsItsExpectSays(string name)
    {
        var vector = Vector.Load(Path.Combine(Folder, name));
        var identities = vector.Identities.Select(i => AgeIdentity.TryParse(i, out var id, out _) ? id : null).OfType<AgeIdentity>().ToList();
        var supported = vector.Passphrases.Count == 0 && identities.Count == vector.Identities.Count;

        byte[]? plaintext = null;
        AgeException? failure = null;
        try
        {
            plaintext = vector.Armored ? Age.Decrypt(Encoding.ASCII.GetString(vector.File), identities) : Age.Decrypt(vector.File, identities);
        }
        catch (AgeException e)
        {
            failure = e;
        }

        if (!supported)
        {
            // A passphrase or a hybrid identity that Belay cannot use: it must fail, and say something.
            Assert.Null(plaintext);
            Assert.False(string.IsNullOrWhiteSpace(failure!.Message));
            return;
        }
        switch (vector.Expect)
        {
            case "success":
                Assert.True(failure is null, $"{name}: {failure?.Failure} {failure?.Message}");
                Assert.Equal(vector.Payload, Convert.ToHexStringLower(SHA256.HashData(plaintext!)));
                break;
            case "no match":
                Assert.Equal(AgeFailure.NoMatchingIdentity, failure?.Failure);
                break;
            case "HMAC failure":
                Assert.Equal(AgeFailure.HeaderMac, failure?.Failure);
                break;
            case "header failure":
                Assert.Equal(AgeFailure.Header, failure?.Failure);
                break;
            case "payload failure":
                Assert.Equal(AgeFailure.Payload, failure?.Failure);
                break;
            case "armor failure":
                Assert.Equal(AgeFailure.Armor, failure?.Failure);
                break;
            default:
                Assert.Fail($"{name}: unknown expect '{vector.Expect}'");
                break;
        }
    }

    private sealed record Vector(string Expect, string? Payload, bool Armored, List<string> Identities, List<string> Passphrases, byte[] File)
    {
        public static Vector Load(string path)
        {
            var bytes = System.IO.File.ReadAllBytes(path);
            var split = bytes.AsSpan().IndexOf("\n\n"u8);
            var head = Encoding.UTF8.GetString(bytes, 0, split).Split('\n');
            var body = bytes[(split + 2)..];
            string Value(string key) => head.FirstOrDefault(l => l.StartsWith(key + ": ", StringComparison.Ordinal))?[(key.Length + 2)..] ?? "";
            List<string> Values(string key) => [.. head.Where(l => l.StartsWith(key + ": ", StringComparison.Ordinal)).Select(l => l[(key.Length + 2)..])];
            if (Value("compressed") == "zlib")
            {
                using var zlib = new ZLibStream(new MemoryStream(body), CompressionMode.Decompress);
                using var output = new MemoryStream();
                zlib.CopyTo(output);
                body = output.ToArray();
            }
            return new Vector(Value("expect"), Value("payload") is { Length: > 0 } p ? p : null, Value("armored") == "yes", Values("identity"), Values("passphrase"), body);
        }
    }
}
