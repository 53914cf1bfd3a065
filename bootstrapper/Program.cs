namespace Belay.Bootstrapper;

internal static class Program
{
    public static int Main(string[] args)
    {
        Console.WriteLine(BuildInfo.Version + " " + args.Length);
        return 0;
    }
}
