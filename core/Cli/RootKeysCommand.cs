using System.CommandLine;
using Belay.Core.Minisign;

namespace Belay.Core.Cli;

/// <summary>The root keys an executable was built with, and `root-keys` to show them.</summary>
public static class RootKeysCommand
{
    /// <summary>Parses the ';'-separated base64 keys compiled in by the build.</summary>
    public static IReadOnlyList<MinisignPublicKey> Parse(string compiledIn)
    {
        ArgumentNullException.ThrowIfNull(compiledIn);
        return [.. compiledIn.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(MinisignPublicKey.Parse)];
    }

    public static Command Create(string compiledIn)
    {
        var command = new Command("root-keys", "Print the root public keys compiled into this build (one base64 line each).");
        command.SetAction(_ =>
        {
            var keys = Parse(compiledIn);
            if (keys.Count == 0)
            {
                Console.Error.WriteLine("no root key is compiled into this build; installs must pin one with --root-key");
                return ExitCodes.Error;
            }
            foreach (var key in keys)
            {
                Console.WriteLine($"{key.ToBase64()}  (key id {key.KeyIdHex})");
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
