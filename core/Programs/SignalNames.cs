namespace Belay.Core.Programs;

/// <summary>The stop signals an operator may name (TERM or SIGTERM), with this system's numbers.</summary>
public static class SignalNames
{
    public static IReadOnlyList<string> Names { get; } = ["TERM", "INT", "HUP", "QUIT", "KILL", "USR1", "USR2"];

    public static bool TryParse(string text, out int signal)
    {
        ArgumentNullException.ThrowIfNull(text);
        var name = text.Trim().ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal))
        {
            name = name[3..];
        }
        var bsd = OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD();
        var illumos = !bsd && !OperatingSystem.IsLinux() && !OperatingSystem.IsWindows();
        int? value = name switch
        {
            "HUP" => 1,
            "INT" => 2,
            "QUIT" => 3,
            "KILL" => 9,
            "TERM" => 15,
            "USR1" => bsd ? 30 : illumos ? 16 : 10,
            "USR2" => bsd ? 31 : illumos ? 17 : 12,
            _ => null,
        };
        signal = value ?? 0;
        return value is not null;
    }
}
