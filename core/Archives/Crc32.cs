namespace Belay.Core.Archives;

/// <summary>
/// CRC-32 (IEEE 802.3, the one zip uses). ZipArchive stops reading an entry at the size its
/// header declares without checking the CRC, so the extractor checks it itself: an entry whose
/// data inflates to something other than what its header declares is refused.
/// </summary>
internal sealed class Crc32
{
    private static readonly uint[] Table = BuildTable();

    private uint _state = 0xFFFF_FFFFu;

    public uint Value => ~_state;

    public void Append(ReadOnlySpan<byte> data)
    {
        var state = _state;
        foreach (var b in data)
        {
            state = Table[(state ^ b) & 0xFF] ^ (state >> 8);
        }
        _state = state;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < table.Length; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB8_8320u ^ (c >> 1) : c >> 1;
            }
            table[i] = c;
        }
        return table;
    }
}
