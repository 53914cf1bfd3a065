using System.Security.Cryptography;
using Belay.TestSupport;

namespace Belay.EndToEnd.Tests.Installers;

/// <summary>
/// install.ps1 run by pwsh on Linux as a user would run it on Windows, up to the point where it
/// would start belay.exe (the test hook BELAY_INSTALL_PS1_TEST=1; see docs/install.md for what
/// only real Windows shows): parse check, dry run, download and SHA-256 check, a refused
/// bootstrapper, refused plain http, and a truncated download that runs nothing.
/// </summary>
public sealed class InstallPs1Tests : IDisposable
{
    private readonly InstallPs1Host _host = new();

    public void Dispose() => _host.Dispose();

    private string Sha => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(_host.BootstrapPath)));

    [Fact]
    public void GeneratedNextToInstallShWithTheWindowsBootstrapperPinned()
    {
        Assert.Contains("install.ps1 (", _host.Generate.StdOut, StringComparison.Ordinal);
        Assert.Contains("bootstrap 0.1.0: win-x64", _host.Generate.StdOut, StringComparison.Ordinal);
        Assert.True(File.Exists(_host.ScriptPath + ".minisig"));
        var verify = BelayBinaries.Run(BelayBinaries.Belay, "verify", _host.ScriptPath, "--public-key", _host.Workspace.ReleasePub);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains($"Sha256 = '{Sha}'", File.ReadAllText(_host.ScriptPath), StringComparison.Ordinal);
    }

    [Fact]
    public void TheTemplateAndTheRenderedScriptParseWithoutErrors()
    {
        var template = Path.Combine(BelayBinaries.RepoRoot, "installers", "install.ps1");
        var result = Pwsh.Run(string.Join("; ", new[] { template, _host.ScriptPath }.Select(f =>
            $"$t = $null; $e = $null; [void][System.Management.Automation.Language.Parser]::ParseFile({Pwsh.Quote(f)}, [ref]$t, [ref]$e); \"$($e.Count) errors, $($t.Count) tokens\"")));
        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.StdOut.Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.StartsWith("0 errors,", l, StringComparison.Ordinal));
    }

    [Fact]
    public void DryRunWithParametersPrintsTheCommandAndDownloadsNothing()
    {
        var result = _host.ScriptBlock("-DryRun -Channel beta -Version 0.1.0 -NoStart -Wait 5m -Prefix 'C:\\Belay Test'");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"would download {_host.FeedUrl}bootstrap/0.1.0/belay-win-x64.exe with Invoke-WebRequest and check that its SHA-256 is {Sha} (with Get-FileHash)", result.StdOut, StringComparison.Ordinal);
        var key = File.ReadAllLines(_host.Workspace.RootPub).Last(l => l.Length > 0);
        Assert.Contains($"would run: belay.exe install --feed {_host.FeedUrl} --channel beta --scope system --root-key {key} --version 0.1.0 --prefix 'C:\\Belay Test' --service-manager windows --wait 5m --no-start",
            result.StdOut, StringComparison.Ordinal);
        Assert.Contains("dry run: nothing downloaded, nothing installed", result.StdOut, StringComparison.Ordinal);
        Assert.Equal(0, _host.BootstrapRequests);
    }

    [Fact]
    public void IrmPipedToIexReadsItsOptionsFromTheEnvironment()
    {
        var result = _host.Iex(extra: new Dictionary<string, string?> { ["BELAY_DRY_RUN"] = "1", ["BELAY_CHANNEL"] = "beta", ["BELAY_WAIT"] = "240s" });
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("--channel beta --scope system", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("--service-manager windows --wait 240s", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("LASTEXITCODE=0", result.StdOut, StringComparison.Ordinal);
        Assert.Equal(0, _host.BootstrapRequests);
    }

    [Theory]
    [InlineData("-Wait soon")]
    [InlineData("-Wait 90")]
    [InlineData("-Wait '5m; calc'")]
    public void AWaitThatIsNotADurationIsAUsageErrorAndDownloadsNothing(string options)
    {
        var result = _host.ScriptBlock("-DryRun " + options);
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("give a duration like 90s, 5m or 1h", result.StdErr, StringComparison.Ordinal);
        Assert.Equal(0, _host.BootstrapRequests);
    }

    [Fact]
    public void DownloadsAndVerifiesTheBootstrapperThenStopsBeforeRunningItOffWindows()
    {
        var result = _host.Iex();
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"downloading {_host.FeedUrl}bootstrap/0.1.0/belay-win-x64.exe", result.StdOut, StringComparison.Ordinal);
        Assert.Contains($"verified SHA-256 {Sha} (bootstrap/0.1.0/belay-win-x64.exe)", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("running: belay.exe install --feed", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("test hook (not Windows): stopping before running belay.exe", result.StdOut, StringComparison.Ordinal);
        Assert.Contains("LASTEXITCODE=0", result.StdOut, StringComparison.Ordinal);
        Assert.Equal(1, _host.BootstrapRequests);
        Assert.True(_host.TempIsEmpty, "the script's work folder was left behind");
    }

    [Fact]
    public void ABootstrapperThatDiffersFromThePinnedHashIsRefusedWithExitCode3()
    {
        var pinned = Sha;
        var bytes = File.ReadAllBytes(_host.BootstrapPath);
        bytes[^1] ^= 0x01;
        File.WriteAllBytes(_host.BootstrapPath, bytes);
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));

        var script = Path.Combine(_host.Workspace.Root, "install.ps1");
        File.Copy(_host.ScriptPath, script);
        var asFile = Pwsh.RunFile(script, ["-NoStart"], _host.Environment());
        Assert.True(asFile.ExitCode == 3, asFile.ToString());
        Assert.Contains($"error: the download from {_host.FeedUrl}bootstrap/0.1.0/belay-win-x64.exe has SHA-256 {actual}, but this install.ps1 pins {pinned}: refusing to run it, nothing was installed.", asFile.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("running:", asFile.StdOut, StringComparison.Ordinal);

        var block = _host.ScriptBlock("-NoStart");
        Assert.True(block.ExitCode == 3, block.ToString());
        Assert.Contains("caught: install.ps1 failed with exit code 3", block.StdErr, StringComparison.Ordinal);
        Assert.True(_host.TempIsEmpty, "the refused download was left behind");
    }

    [Fact]
    public void PlainHttpOffLoopbackAndOtherMistakesAreRefusedBeforeAnyDownload()
    {
        var http = _host.ScriptBlock("-Feed http://feed.example.com/");
        Assert.True(http.ExitCode == 1, http.ToString());
        Assert.Contains("error: http://feed.example.com/ is plain http and not on loopback: use its https:// address, or -AllowInsecureHttp if you really mean it", http.StdErr, StringComparison.Ordinal);

        var channel = _host.ScriptBlock("-Channel 'Beta;rm'");
        Assert.True(channel.ExitCode == 2, channel.ToString());
        Assert.Contains("-Channel 'Beta;rm': use lower-case letters", channel.StdErr, StringComparison.Ordinal);

        var rid = _host.ScriptBlock("-Rid win-arm64 -DryRun");
        Assert.True(rid.ExitCode == 1, rid.ToString());
        Assert.Contains("this feed has no Belay build for win-arm64. Builds on this feed: win-x64.", rid.StdErr, StringComparison.Ordinal);

        var notWindows = _host.ScriptBlock("-DryRun", testHook: false);
        Assert.True(notWindows.ExitCode == 1, notWindows.ToString());
        Assert.Contains($"error: this is not Windows: use install.sh instead: curl -fsSL {_host.FeedUrl}install.sh | sh", notWindows.StdErr, StringComparison.Ordinal);
        Assert.Equal(0, _host.BootstrapRequests);
    }

    /// <summary>
    /// A download cut short anywhere runs nothing. Statically, for cuts up to the closing brace
    /// of the last line (each line end and every 7th byte; parsing every byte takes minutes): the
    /// parser reports an error (PowerShell then runs none of it), or the top level holds no
    /// statement but function definitions (the param block only sets defaults). Then for real, each line end and every 97th byte: the cut is invoked in its own
    /// runspace with the test hook on, and nothing prints, nothing is downloaded.
    /// </summary>
    [Fact]
    public void ATruncatedScriptRunsNothing()
    {
        var driver = Path.Combine(_host.Workspace.Root, "cuts.ps1");
        File.WriteAllText(driver, """
            param([string] $Script)
            $text = [IO.File]::ReadAllText($Script)
            $end = $text.TrimEnd().Length - 1   # the last '}' of the last line: up to it, the script is cut
            $parsed = 0; $errored = 0; $bad = @()
            $cuts = @(); for ($i = 0; $i -lt $end; $i++) { if ($text[$i] -eq "`n" -or $i % 7 -eq 0) { $cuts += $i } }
            foreach ($cut in $cuts) {
                $t = $null; $e = $null
                $ast = [System.Management.Automation.Language.Parser]::ParseInput($text.Substring(0, $cut), [ref]$t, [ref]$e)
                if ($e.Count -gt 0) { $errored++; continue }
                $parsed++
                $others = @($ast.EndBlock.Statements | Where-Object { $_ -isnot [System.Management.Automation.Language.FunctionDefinitionAst] })
                if ($ast.BeginBlock -or $ast.ProcessBlock -or $others.Count -gt 0) { $bad += $cut }
            }
            "static: $($cuts.Count) cuts, $errored parse errors, $parsed parse cleanly, $($bad.Count) would run something: $($bad -join ',')"
            $cuts = @(); for ($i = 0; $i -lt $end; $i++) { if ($text[$i] -eq "`n" -or $i % 97 -eq 0) { $cuts += $i } }
            $ran = 0; $refused = 0
            foreach ($cut in $cuts) {
                $ps = [powershell]::Create()
                try {
                    [void]$ps.AddScript($text.Substring(0, $cut))
                    $out = $ps.Invoke()
                    $ran += $out.Count + $ps.Streams.Information.Count + $ps.Streams.Error.Count
                } catch [System.Management.Automation.ParseException] {
                    $refused++
                } finally {
                    $ps.Dispose()
                }
            }
            "dynamic: $($cuts.Count) cuts invoked, $refused parse errors, $ran outputs"
            """);
        var result = Pwsh.RunFile(driver, [_host.ScriptPath], _host.Environment(), TimeSpan.FromMinutes(8));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"static: \d+ cuts, \d+ parse errors, \d+ parse cleanly, 0 would run something: \n", result.StdOut.Replace("\r", "", StringComparison.Ordinal));
        Assert.Matches(@"dynamic: \d+ cuts invoked, \d+ parse errors, 0 outputs", result.StdOut);
        Assert.DoesNotContain("belay-install", result.StdOut + result.StdErr, StringComparison.Ordinal);
        Assert.Equal(0, _host.BootstrapRequests);
        Console.WriteLine(result.StdOut);

        // The whole script, the same way, does run (the check above would see it).
        var whole = Pwsh.Run($"$ps = [powershell]::Create(); [void]$ps.AddScript([IO.File]::ReadAllText({Pwsh.Quote(_host.ScriptPath)})).AddParameter('DryRun'); try {{ $ps.Invoke() }} catch {{ }}", _host.Environment());
        Assert.Contains("belay-install: dry run: nothing downloaded", whole.StdOut, StringComparison.Ordinal);
    }
}
