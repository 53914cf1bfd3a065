using System.Text;
using Belay.Core.Hub;

namespace Belay.Hub.Cluster;

/// <summary>
/// What hub nodes tell each other through PostgreSQL's NOTIFY, one text payload each (at most
/// <see cref="MaxPayload"/> bytes: PostgreSQL's limit is 8000). Two kinds, the agent protocol's own
/// frames in an envelope:
/// <list type="bullet">
/// <item><c>a|FROM|HOST|FRAME</c>, to the node that holds HOST: send FRAME (poke, tail.open,
/// tail.credit, tail.close) to the agent; FROM is the node whose reader the tail is for;</item>
/// <item><c>t|FROM|HOST|FRAME</c>, to a reader's node: the agent's tail.data, tail.skip or tail.end;
/// FROM is the node that holds HOST (a reader takes a tail's frames from that node only).</item>
/// </list>
/// A tail.data frame too large for one payload is cut into several, at character boundaries, each
/// with its own offset. Pure: bytes in, bytes out.
/// </summary>
internal static class ClusterMessages
{
    public const int MaxPayload = 7900;

    public static string ToAgent(string fromNode, string hostId, ReadOnlySpan<byte> frame) => $"a|{fromNode}|{hostId}|{Encoding.UTF8.GetString(frame)}";

    public static string ToReader(string fromNode, string hostId, ReadOnlySpan<byte> frame) => $"t|{fromNode}|{hostId}|{Encoding.UTF8.GetString(frame)}";

    /// <summary>A payload taken apart: its kind ('a' or 't'), the node it came from, the host, and the frame; null when it is not one of ours.</summary>
    public static (char Kind, string From, string HostId, byte[] Frame)? Parse(string payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        if (payload.Length < 2 || payload[0] is not ('a' or 't') || payload[1] != '|')
        {
            return null;
        }
        var parts = payload.Split('|', 4);
        return parts.Length == 4 && parts[1].Length > 0 && parts[2].Length > 0 ? (payload[0], parts[1], parts[2], Encoding.UTF8.GetBytes(parts[3])) : null;
    }

    /// <summary>
    /// The agent's tail frame as payloads for the reader's node: itself when it fits, or, for a
    /// tail.data that does not, several tail.data frames that together carry the same bytes at the same offsets.
    /// </summary>
    public static List<string> ForReader(string fromNode, string hostId, ReadOnlySpan<byte> frame)
    {
        var whole = ToReader(fromNode, hostId, frame);
        if (Encoding.UTF8.GetByteCount(whole) <= MaxPayload || HubMessages.TypeOf(frame) != HubMessages.TailDataType)
        {
            return [whole];
        }
        var data = HubMessages.Parse(frame, HubJsonContext.Default.TailData);
        var payloads = new List<string>();
        var text = data.Text ?? "";
        var offset = data.Offset;
        var at = 0;
        while (at < text.Length)
        {
            var length = Math.Min(text.Length - at, 2048);
            while (true)
            {
                if (at + length < text.Length && char.IsHighSurrogate(text[at + length - 1]))
                {
                    length--; // never split a surrogate pair
                }
                var piece = text.Substring(at, length);
                var payload = ToReader(fromNode, hostId, HubMessages.TailDataFrame(data.Id, offset, piece));
                if (Encoding.UTF8.GetByteCount(payload) <= MaxPayload || length <= 2)
                {
                    payloads.Add(payload);
                    offset += Encoding.UTF8.GetByteCount(piece);
                    at += length;
                    break;
                }
                length /= 2;
            }
        }
        return payloads;
    }
}
