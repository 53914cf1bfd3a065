using System.Globalization;
using System.Text.RegularExpressions;
using Belay.Core.Install;
using Belay.Core.Services;
using Belay.TestSupport;

namespace Belay.Core.Tests.Services;

public sealed class SystemdUnitTests
{
    /// <summary>The template as the repository holds it (until Belay.Core embeds it, the only copy tests can reach).</summary>
    internal static string Template() =>
        File.ReadAllText(Path.Combine(BelayBinaries.RepoRoot, "core", "Services", "Templates", "belay.service.template"));

    internal static ServiceDefinition SystemDefinition() => new()
    {
        CommandLine = ["/opt/belay/bin/belay", "run", "--config", "/etc/belay/config.json"],
        WorkingDirectory = "/var/lib/belay",
        Environment = new Dictionary<string, string> { ["DOTNET_gcServer"] = "0", ["BELAY_LOG"] = "info" },
        StdoutLog = "/var/log/belay/keeper.log",
        StderrLog = "/var/log/belay/keeper.log",
        Scope = InstallScope.System,
    };

    [Fact]
    public void TheSystemUnitIsExactlyTheSnapshot()
    {
        var unit = SystemdUnit.Render(SystemDefinition(), Template());

        Assert.Equal("""
            # The Belay keeper (system scope). Written by `belay install`, which rewrites it on the
            # next install: change the installation, not this file. What each setting is for:
            # docs/service-managers.md, "systemd".
            [Unit]
            Description=Belay keeper: runs, updates and rolls back the Belay agent
            StartLimitIntervalSec=300
            StartLimitBurst=10
            Wants=network-online.target
            After=network-online.target

            [Service]
            Type=notify
            NotifyAccess=main
            ExecStart=/opt/belay/bin/belay run --config /etc/belay/config.json
            WorkingDirectory=/var/lib/belay
            Environment="BELAY_LOG=info"
            Environment="DOTNET_gcServer=0"
            Restart=always
            RestartSec=5
            TimeoutStopSec=30
            KillMode=mixed
            StandardOutput=journal
            StandardError=journal
            # Hardening that leaves the supervised programs their network, their data, their
            # users and their setuid helpers (the agent starts them as other users).
            NoNewPrivileges=no
            ProtectSystem=no
            ProtectHome=no
            PrivateTmp=no
            RestrictSUIDSGID=no
            ProtectClock=yes
            ProtectHostname=yes
            ProtectKernelModules=yes
            ProtectKernelTunables=yes
            ProtectKernelLogs=yes
            ProtectControlGroups=yes
            RestrictRealtime=yes
            LockPersonality=yes
            SystemCallFilter=~@clock @module @obsolete @reboot @swap
            SystemCallErrorNumber=EPERM

            [Install]
            WantedBy=multi-user.target

            """, unit);
    }

    [Fact]
    public void TheUserUnitIsExactlyTheSnapshot()
    {
        var definition = new ServiceDefinition
        {
            CommandLine = ["/home/ann/.local/share/belay/bin/belay", "run", "--config", "/home/ann/.config/belay/config.json"],
            WorkingDirectory = "/home/ann/.local/state/belay",
            Restart = RestartPolicy.OnFailure,
            RestartDelaySeconds = 10,
            StopTimeoutSeconds = 45,
            Scope = InstallScope.User,
        };

        var unit = SystemdUnit.Render(definition, Template());

        Assert.Equal("""
            # The Belay keeper (user scope). Written by `belay install`, which rewrites it on the
            # next install: change the installation, not this file. What each setting is for:
            # docs/service-managers.md, "systemd".
            [Unit]
            Description=Belay keeper: runs, updates and rolls back the Belay agent
            StartLimitIntervalSec=300
            StartLimitBurst=10

            [Service]
            Type=notify
            NotifyAccess=main
            ExecStart=/home/ann/.local/share/belay/bin/belay run --config /home/ann/.config/belay/config.json
            WorkingDirectory=/home/ann/.local/state/belay
            Restart=on-failure
            RestartSec=10
            TimeoutStopSec=45
            KillMode=mixed
            StandardOutput=journal
            StandardError=journal

            [Install]
            WantedBy=default.target

            """, unit);
    }

    [Fact]
    public void UserIsWrittenOnlyWhenSet()
    {
        Assert.DoesNotContain("User=", SystemdUnit.Render(SystemDefinition(), Template()), StringComparison.Ordinal);
        var unit = SystemdUnit.Render(SystemDefinition() with { User = "belay" }, Template());
        Assert.Contains("\nUser=belay\n", unit, StringComparison.Ordinal);
    }

    [Fact]
    public void AUserUnitWithAUserIsRefused()
    {
        var definition = SystemDefinition() with { Scope = InstallScope.User, User = "ann" };
        Assert.Throws<ArgumentException>(() => SystemdUnit.Render(definition, Template()));
    }

    [Fact]
    public void NeverRestartingWritesRestartNo()
    {
        var unit = SystemdUnit.Render(SystemDefinition() with { Restart = RestartPolicy.Never }, Template());
        Assert.Contains("\nRestart=no\n", unit, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("two words", "\"two words\"")]
    [InlineData("", "\"\"")]
    [InlineData("100%", "100%%")]
    [InlineData("$HOME", "$$HOME")]
    [InlineData(@"C:\dir", @"C:\\dir")]
    [InlineData("say \"hi\"", "\"say \\\"hi\\\"\"")]
    [InlineData("it's", "\"it's\"")]
    [InlineData(";", @"\;")]
    [InlineData("a;b", "a;b")]
    [InlineData("line\nbreak", "\"line\\nbreak\"")]
    [InlineData("{{ExecStart}}", "{{ExecStart}}")]
    public void ExecStartWordsAreEscapedAsSystemdReadsThem(string argument, string expected)
    {
        Assert.Equal(expected, SystemdUnit.QuoteArgument(argument));
    }

    [Fact]
    public void EnvironmentValuesAreQuotedWithSpecifiersEscaped()
    {
        Assert.Equal("\"GREETING=hello \\\"world\\\" 100%% $HOME\"", SystemdUnit.EnvironmentAssignment("GREETING", "hello \"world\" 100% $HOME"));
        Assert.Throws<ArgumentException>(() => SystemdUnit.EnvironmentAssignment("NOT-A-NAME", "x"));
    }

    [Fact]
    public void ValuesThatCannotBeOneLineAreRefused()
    {
        Assert.Throws<ArgumentException>(() => SystemdUnit.Render(SystemDefinition() with { Description = "two\nlines" }, Template()));
        Assert.Throws<ArgumentException>(() => SystemdUnit.Render(SystemDefinition() with { WorkingDirectory = "relative" }, Template()));
        Assert.Throws<ArgumentException>(() => SystemdUnit.Render(SystemDefinition() with { CommandLine = ["belay", "run"] }, Template()));
    }

    [Fact]
    public void TheUnitPathFollowsTheScopeAndXdgConfigHome()
    {
        Assert.Equal("/etc/systemd/system/belay.service", SystemdUnit.Path(InstallScope.System));
        Assert.Equal("/home/ann/.config/systemd/user/belay.service",
            SystemdUnit.Path(InstallScope.User, v => v == "HOME" ? "/home/ann" : null));
        Assert.Equal("/cfg/systemd/user/belay.service",
            SystemdUnit.Path(InstallScope.User, v => v switch { "HOME" => "/home/ann", "XDG_CONFIG_HOME" => "/cfg", _ => null }));
        Assert.Equal("/home/ann/.config/systemd/user/belay.service",
            SystemdUnit.Path(InstallScope.User, v => v switch { "HOME" => "/home/ann", "XDG_CONFIG_HOME" => "relative", _ => null }));
    }

    [Fact]
    public void TheEmbeddedTemplateIsTheRepositoryFile()
    {
        var embedded = ServiceTemplate.TryLoad("belay.service.template");
        if (embedded is null)
        {
            Assert.Skip("SKIPPED LOUDLY: Belay.Core does not embed Services/Templates/belay.service.template yet; "
                + "add <EmbeddedResource Include=\"Services/Templates/*.template\" LogicalName=\"Belay.Core.Services.Templates.%(Filename)%(Extension)\" /> to core/Belay.Core.csproj.");
        }
        Assert.Equal(Template(), embedded);
    }

    [Fact]
    public void SystemdAnalyzeVerifyAcceptsTheSystemUnitWithoutAWord()
    {
        var analyze = ExternalTool.Require("systemd-analyze", "systemd");
        using var root = new TempDir();
        // Awkward arguments and values, to check the escaping with systemd's own parser too.
        var definition = SystemDefinition() with
        {
            CommandLine = ["/opt/belay/bin/belay", "run", "--config", "/etc/belay/my config.json", "100%", "$HOME", ";", "say \"hi\"", @"back\slash", "it's"],
            Environment = new Dictionary<string, string> { ["A"] = "with space", ["B"] = "quote \" and 50% and \\", ["C"] = "" },
            User = "root",
        };
        WriteRoot(root, SystemdUnit.Render(definition, Template()));

        var result = ExternalTool.Run(analyze, ["verify", "--man=no", "--root=" + root.Path, SystemdUnit.UnitName]);

        Assert.True(result.ExitCode == 0 && result.StdErr.Length == 0, result.ToString());
    }

    [Fact]
    public void SystemdAnalyzeVerifyRejectsABrokenUnit()
    {
        // The check above is only worth something if a broken unit makes verify speak.
        var analyze = ExternalTool.Require("systemd-analyze", "systemd");
        using var root = new TempDir();
        WriteRoot(root, SystemdUnit.Render(SystemDefinition(), Template()).Replace("KillMode=mixed", "KillMode=sometimes", StringComparison.Ordinal));

        var result = ExternalTool.Run(analyze, ["verify", "--man=no", "--root=" + root.Path, SystemdUnit.UnitName]);

        Assert.Contains("kill mode", result.StdErr, StringComparison.Ordinal);
    }

    /// <summary>The exposure `systemd-analyze security --offline=true` measured for the system unit (docs/service-managers.md).</summary>
    private const double RecordedExposure = 7.4;

    [Fact]
    public void TheHardeningScoreDoesNotGetWorse()
    {
        var analyze = ExternalTool.Require("systemd-analyze", "systemd");
        using var root = new TempDir();
        WriteRoot(root, SystemdUnit.Render(SystemDefinition(), Template()));

        var result = ExternalTool.Run(analyze, ["security", "--no-pager", "--offline=true", "--root=" + root.Path, SystemdUnit.UnitName]);

        var match = Regex.Match(result.StdOut, @"Overall exposure level for belay\.service: (\d+\.\d)");
        Assert.True(match.Success, result.ToString());
        var exposure = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(exposure <= RecordedExposure, $"exposure {exposure} is above the recorded {RecordedExposure}\n{result}");
    }

    /// <summary>
    /// A root for `systemd-analyze --root`: the unit, a stub for the executable ExecStart names
    /// (verify checks it exists and is executable) and the host's own units (verify needs
    /// sysinit.target and the targets the unit names).
    /// </summary>
    private static void WriteRoot(TempDir root, string unit)
    {
        var unitPath = root.Combine("etc", "systemd", "system", SystemdUnit.UnitName);
        Directory.CreateDirectory(Path.GetDirectoryName(unitPath)!);
        File.WriteAllText(unitPath, unit);
        var exe = root.Combine("opt", "belay", "bin", "belay");
        Directory.CreateDirectory(Path.GetDirectoryName(exe)!);
        File.WriteAllText(exe, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(exe, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var hostUnits = "/usr/lib/systemd/system";
        var copy = root.Combine("usr", "lib", "systemd", "system");
        Directory.CreateDirectory(copy);
        foreach (var target in Directory.EnumerateFiles(hostUnits, "*.target"))
        {
            File.Copy(target, Path.Combine(copy, Path.GetFileName(target)));
        }
    }
}
