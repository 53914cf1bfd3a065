using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Belay.Core.Hub;

/// <summary>
/// The agent ↔ hub protocol (DESIGN.md, "The hub"): JSON text frames <c>{"t": TYPE, …}</c> on the
/// one WebSocket an agent holds to <c>/agent/v1/connect</c>. Versioned by <see cref="Hello.V"/>;
/// unknown fields are ignored; an unknown type is a protocol error that the hub answers with a
/// close code (<see cref="HubCloseCodes"/>), never a crash.
/// <para>agent → hub: hello, state, tail.data, tail.skip, tail.end.
/// hub → agent: poke, tail.open, tail.credit, tail.close. Nothing else: there is no message that
/// runs anything on a host, so a compromised hub can read logs and never run code.</para>
/// </summary>
public static class HubMessages
{
    /// <summary>The protocol version this build speaks (hello's <c>v</c>).</summary>
    public const int Version = 1;

    /// <summary>The largest frame either side accepts; a bigger one closes the connection (1009).</summary>
    public const int MaxFrameBytes = 64 * 1024;

    /// <summary>The credit a new tail stream starts with (DESIGN.md: 64 KiB).</summary>
    public const int InitialCredit = 64 * 1024;

    /// <summary>At most this many live tails per agent.</summary>
    public const int MaxStreamsPerAgent = 4;

    /// <summary>A tail ends this long after it was opened (or last renewed).</summary>
    public static readonly TimeSpan StreamLifetime = TimeSpan.FromMinutes(15);

    public const string HelloType = "hello";
    public const string StateType = "state";
    public const string TailDataType = "tail.data";
    public const string TailSkipType = "tail.skip";
    public const string TailEndType = "tail.end";
    public const string PokeType = "poke";
    public const string TailOpenType = "tail.open";
    public const string TailCreditType = "tail.credit";
    public const string TailCloseType = "tail.close";

    /// <summary>
    /// Reads the <c>t</c> of a frame without deserializing the rest. Null when the frame is not a
    /// JSON object or has no string <c>t</c> at its top level (a protocol error).
    /// </summary>
    public static string? TypeOf(ReadOnlySpan<byte> frame)
    {
        try
        {
            var reader = new Utf8JsonReader(frame, new JsonReaderOptions { MaxDepth = 16 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject)
                {
                    return null;
                }
                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    return null;
                }
                var isType = reader.ValueTextEquals("t"u8);
                if (!reader.Read())
                {
                    return null;
                }
                if (isType)
                {
                    return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                reader.Skip();
            }
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Deserializes a frame of a known type; a <see cref="JsonException"/> for a malformed one.</summary>
    public static T Parse<T>(ReadOnlySpan<byte> frame, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.Deserialize(frame, type) ?? throw new JsonException("null message");

    /// <summary>
    /// The raw JSON of the <c>state</c> member of a state frame (the <c>belay status --json</c> object),
    /// checked to be an object; a <see cref="JsonException"/> otherwise.
    /// </summary>
    public static string StateJson(ReadOnlySpan<byte> frame)
    {
        using var doc = JsonDocument.Parse(frame.ToArray(), new JsonDocumentOptions { MaxDepth = 32 });
        if (!doc.RootElement.TryGetProperty("state", out var state) || state.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("a state message needs a \"state\" object");
        }
        return state.GetRawText();
    }

    /// <summary>A state frame around an already serialized status object.</summary>
    public static byte[] StateFrame(ReadOnlySpan<byte> stateJson)
    {
        var prefix = """{"t":"state","state":"""u8;
        var frame = new byte[prefix.Length + stateJson.Length + 1];
        prefix.CopyTo(frame);
        stateJson.CopyTo(frame.AsSpan(prefix.Length));
        frame[^1] = (byte)'}';
        return frame;
    }

    /// <summary>A tail.data frame, written directly (it is the one frame sent many times a second).</summary>
    public static byte[] TailDataFrame(long id, long offset, string text)
    {
        using var buffer = new MemoryStream(text.Length + 64);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("t"u8, TailDataType);
            writer.WriteNumber("id"u8, id);
            writer.WriteNumber("offset"u8, offset);
            writer.WriteString("text"u8, text);
            writer.WriteEndObject();
        }
        return buffer.ToArray();
    }

    public static byte[] Serialize<T>(T message, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) =>
        JsonSerializer.SerializeToUtf8Bytes(message, type);

    /// <summary>Decodes UTF-8 up to the last complete character; returns how many bytes were used.</summary>
    public static int CompleteUtf8Length(ReadOnlySpan<byte> bytes)
    {
        // Walk back over at most 3 continuation bytes to the lead byte of the last character.
        var end = bytes.Length;
        for (var back = 1; back <= Math.Min(4, end); back++)
        {
            var b = bytes[end - back];
            if ((b & 0xC0) == 0x80)
            {
                continue; // a continuation byte
            }
            var need = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            return back >= need ? end : end - back;
        }
        return end; // not UTF-8 at all: send it as it is (invalid bytes become U+FFFD)
    }

    /// <summary>UTF-8 text of a chunk (invalid sequences become U+FFFD).</summary>
    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}

/// <summary>WebSocket close codes the hub uses (RFC 6455 and the 4000 private range).</summary>
public static class HubCloseCodes
{
    /// <summary>A frame that is not JSON or not the shape of its type (1007, invalid payload).</summary>
    public const int Malformed = 1007;

    /// <summary>A message that breaks the protocol: unknown type, data for a stream never opened, a flood (1008, policy violation).</summary>
    public const int Policy = 1008;

    /// <summary>A frame over <see cref="HubMessages.MaxFrameBytes"/> (1009, message too big).</summary>
    public const int TooBig = 1009;

    /// <summary>The host was revoked: do not come back with this credential.</summary>
    public const int Revoked = 4001;

    /// <summary>Another connection of the same host replaced this one.</summary>
    public const int Replaced = 4002;

    /// <summary>The hub is shutting down; reconnect later.</summary>
    public const int GoingAway = 1001;
}

/// <summary>What a host says about itself when it connects (agent → hub).</summary>
public sealed record Hello
{
    public string T { get; set; } = HubMessages.HelloType;

    /// <summary>The protocol version (<see cref="HubMessages.Version"/>).</summary>
    public int V { get; set; } = HubMessages.Version;
    public string Version { get; set; } = "";
    public string Rid { get; set; } = "";
    public HelloHost Host { get; set; } = new();
    public string? Group { get; set; }
}

/// <summary>Host facts as <c>belay status --json</c> reports them (DESIGN.md: host {id, hostname, os, arch, macs}).</summary>
public sealed record HelloHost
{
    public string Id { get; set; } = "";
    public string Hostname { get; set; } = "";
    public string Os { get; set; } = "";
    public string Arch { get; set; } = "";
    public List<string> Macs { get; set; } = [];
}

/// <summary>A piece of a live log: <see cref="Text"/> starts at byte <see cref="Offset"/> of the stream (skipped bytes count).</summary>
public sealed record TailData
{
    public string T { get; set; } = HubMessages.TailDataType;
    public long Id { get; set; }
    public long Offset { get; set; }
    public string Text { get; set; } = "";
}

/// <summary><see cref="Bytes"/> bytes of the stream were dropped (the reader had no credit); they end where the next data starts.</summary>
public sealed record TailSkip
{
    public string T { get; set; } = HubMessages.TailSkipType;
    public long Id { get; set; }
    public long Bytes { get; set; }
}

/// <summary>The agent ended a stream: expired, closed, refused (with why), or the log went away.</summary>
public sealed record TailEnd
{
    public string T { get; set; } = HubMessages.TailEndType;
    public long Id { get; set; }
    public string Reason { get; set; } = "";
}

/// <summary>Check the feed now (hub → agent). The feed stays the source of truth: a poke only moves the next poll forward.</summary>
public sealed record Poke
{
    public string T { get; set; } = HubMessages.PokeType;
}

/// <summary>
/// Start a tail (hub → agent): the last <see cref="Lines"/> lines of a program's (or app's, or the
/// agent's own) stdout or stderr log, then follow it. A tail.open for a stream already open renews
/// it for another <see cref="HubMessages.StreamLifetime"/>.
/// </summary>
public sealed record TailOpen
{
    public string T { get; set; } = HubMessages.TailOpenType;
    public long Id { get; set; }
    public string Program { get; set; } = "";

    /// <summary>stdout or stderr.</summary>
    public string Stream { get; set; } = "stdout";
    public int Lines { get; set; } = 100;
    public bool Follow { get; set; } = true;
}

/// <summary>The reader took <see cref="Bytes"/> more bytes: the agent may send that much more.</summary>
public sealed record TailCredit
{
    public string T { get; set; } = HubMessages.TailCreditType;
    public long Id { get; set; }
    public long Bytes { get; set; }
}

public sealed record TailClose
{
    public string T { get; set; } = HubMessages.TailCloseType;
    public long Id { get; set; }
}

/// <summary>What <c>POST /agent/v1/enroll</c> takes: the enrollment token and who is asking.</summary>
public sealed record EnrollRequest
{
    public string Token { get; set; } = "";
    public HelloHost Host { get; set; } = new();
    public string Version { get; set; } = "";
    public string Rid { get; set; } = "";
}

/// <summary>What enrollment gives back: the hub's id for this host and its credential (shown once, stored hashed).</summary>
public sealed record EnrollResponse
{
    public string HostId { get; set; } = "";
    public string Credential { get; set; } = "";
    public string Group { get; set; } = "";
}

/// <summary>Every error body of the hub: what was wrong and what to do.</summary>
public sealed record HubError
{
    public string Error { get; set; } = "";

    /// <summary>A stable word for scripts: unauthorized, forbidden, expired, used-up, unknown-token, revoked, not-found, not-connected, too-many-streams, bad-request, rate-limited.</summary>
    public string Code { get; set; } = "";
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    MaxDepth = 16)]
[JsonSerializable(typeof(Hello))]
[JsonSerializable(typeof(TailData))]
[JsonSerializable(typeof(TailSkip))]
[JsonSerializable(typeof(TailEnd))]
[JsonSerializable(typeof(Poke))]
[JsonSerializable(typeof(TailOpen))]
[JsonSerializable(typeof(TailCredit))]
[JsonSerializable(typeof(TailClose))]
[JsonSerializable(typeof(EnrollRequest))]
[JsonSerializable(typeof(EnrollResponse))]
[JsonSerializable(typeof(HubError))]
public sealed partial class HubJsonContext : JsonSerializerContext;
