namespace Belay.TestSupport;

/// <summary>A private temporary folder removed when the test ends.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string prefix = "belay-test-")
    {
        Path = Directory.CreateTempSubdirectory(prefix).FullName;
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
