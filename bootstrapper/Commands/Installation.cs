using System.CommandLine;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Install;
using Belay.Core.IO;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// Finds the installation a command acts on: --prefix, else --scope, else the one that
/// exists (user scope first for a non-root user, system first for root).
/// </summary>
internal sealed class Installation
{
    /// <summary>The options of a command that acts on an existing installation.</summary>
    public Installation()
        : this(installs: false)
    {
    }

    /// <summary>With <paramref name="installs"/>, the options of a command that lays an installation out (their help says so).</summary>
    public Installation(bool installs)
    {
        Scope = new Option<string?>("--scope")
        {
            Description = installs
                ? "system (the default for root: /opt/belay, /etc/belay, ...) or user (the default for everybody else: under your home)."
                : "Which installation: system or user (default: the one that exists; user scope first for a non-root user).",
        }.OneOf("system", "user");
        Prefix = new Option<DirectoryInfo?>("--prefix")
        {
            Description = installs
                ? "Install everything under this folder instead of the standard places."
                : "The folder of an installation made with install --prefix.",
        }.NotAFile();
    }

    public Option<string?> Scope { get; }
    public Option<DirectoryInfo?> Prefix { get; }

    public void AddTo(Command command)
    {
        command.Options.Add(Scope);
        command.Options.Add(Prefix);
    }

    public static InstallScope ParseScope(string? text) => text switch
    {
        null or "" => IsRoot ? InstallScope.System : InstallScope.User,
        "system" => InstallScope.System,
        "user" => InstallScope.User,
        _ => throw new BelayException(ExitCodes.Usage, $"--scope '{text}': use system or user"),
    };

    public static bool IsRoot => !OperatingSystem.IsWindows() && Posix.IsRoot;

    /// <summary>The config of an existing installation; a clear error when there is none.</summary>
    public (InstallConfig Config, string Path) Locate(ParseResult result)
    {
        var (path, _) = Find(result);
        return (InstallConfig.Load(path), path);
    }

    /// <summary>Where the existing installation's config.json is, and its layout as the options name it, without reading the config.</summary>
    public (string Path, InstallLayout Layout) Find(ParseResult result)
    {
        var prefix = result.GetValue(Prefix)?.FullName;
        var scopeText = result.GetValue(Scope);
        IEnumerable<InstallScope> candidates = !string.IsNullOrEmpty(scopeText) || prefix is not null
            ? [ParseScope(scopeText)]
            : IsRoot ? [InstallScope.System, InstallScope.User] : [InstallScope.User, InstallScope.System];
        var tried = new List<string>();
        foreach (var scope in candidates)
        {
            var layout = InstallLayout.For(scope, prefix);
            if (File.Exists(layout.ConfigFile))
            {
                return (layout.ConfigFile, layout);
            }
            var path = layout.ConfigFile;
            tried.Add(path);
        }
        throw new BelayException($"Belay is not installed here (looked for {string.Join(" and ", tried)}). Install it with belay install --feed URL, or name the installation with --prefix or --scope");
    }
}
