#!/usr/bin/env pwsh
# Supervised programs on a real Windows, as a service: the scenario of
# tests/Belay.EndToEnd.Tests/Wine/WineProgramsTests.cs for a Windows runner (.github/workflows/windows.yml).
# NEVER RUN: there is no Windows machine where Belay is developed; docs/platforms.md says so.
# Needs an elevated shell (it installs the Belay service for the whole machine).
param(
    [Parameter(Mandatory = $true)][string]$Bin,      # belay.exe, belay-agent.exe, belay-release.exe (win-x64)
    [Parameter(Mandatory = $true)][string]$Program   # winprog.exe, built from tests/Belay.EndToEnd.Tests/Wine/winprog.c
)
$ErrorActionPreference = "Stop"
$Bin = (Resolve-Path $Bin).Path
$Program = (Resolve-Path $Program).Path
$work = Join-Path ([IO.Path]::GetTempPath()) ("belay-smoke-" + [Guid]::NewGuid().ToString("N"))
New-Item -ItemType Directory -Path $work | Out-Null
function Run([string]$exe, [string[]]$arguments) {
    $out = & $exe @arguments 2>&1 | Out-String
    if ($LASTEXITCODE -ne 0) { throw "$exe $($arguments -join ' ') failed ($LASTEXITCODE):`n$out" }
    return $out
}
function Until([scriptblock]$check, [string]$what, [int]$seconds = 90) {
    $deadline = (Get-Date).AddSeconds($seconds)
    while ((Get-Date) -lt $deadline) {
        $value = & $check
        if ($value) { return $value }
        Start-Sleep -Milliseconds 500
    }
    throw "not within $seconds s: $what"
}
$release = Join-Path $Bin "belay-release.exe"
$belay = Join-Path $Bin "belay.exe"
$feed = Join-Path $work "feed"
$keys = Join-Path $work "keys"
Run $release @("keygen", "--out", $keys) | Out-Null
Run $release @("init", "--feed", $feed, "--root-key", "$keys\root.key", "--release-key", "$keys\release.pub") | Out-Null
$agentDir = Join-Path $work "agent"
New-Item -ItemType Directory -Path $agentDir | Out-Null
Copy-Item (Join-Path $Bin "belay-agent.exe") $agentDir
Run $release @("package", "--rid", "win-x64", "--version", "1.0.0", "--input", $agentDir, "--out", "$work\packages") | Out-Null
Run $release @("publish", "--feed", $feed, "--channel", "stable", "--version", "1.0.0",
    "--artifact", "win-x64=$work\packages\belay-agent-1.0.0-win-x64.zip", "--key", "$keys\release.key") | Out-Null
$rootKey = (Get-Content "$keys\root.pub" | Where-Object { $_ -and -not $_.StartsWith("untrusted") } | Select-Object -Last 1)
Run $belay @("install", "--feed", $feed, "--root-key", $rootKey, "--service-manager", "windows", "--scope", "system", "--no-start") | Out-Null

New-Item -ItemType Directory -Force -Path "C:\belay-smoke-tools" | Out-Null
Copy-Item $Program "C:\belay-smoke-tools\winprog.exe"
Set-Content -Path "C:\ProgramData\Belay\etc\programs.conf" -Value @"
[program:web]
command = 'C:\belay-smoke-tools\winprog.exe' serve
stop_timeout = 5s

[program:stubborn]
command = 'C:\belay-smoke-tools\winprog.exe' ignore
stop_timeout = 3s

[program:crasher]
command = 'C:\belay-smoke-tools\winprog.exe' crash 3
fatal_after = 3
fatal_window = 120s

[program:chatty]
command = 'C:\belay-smoke-tools\winprog.exe' spam 3000
redirect_stderr = true
log_max_bytes = 100000
log_backups = 2

[program:asservice]
command = 'C:\belay-smoke-tools\winprog.exe' whoami
user = LocalService

[program:nobody]
command = 'C:\belay-smoke-tools\winprog.exe' serve
user = belay-no-such-account
"@
try {
    Run "sc.exe" @("start", "Belay") | Out-Null
    $status = Until { $s = (& $belay status --json | ConvertFrom-Json); if (($s.programs | Where-Object { $_.name -eq "crasher" }).state -eq "fatal" -and ($s.programs | Where-Object { $_.name -eq "web" }).state -eq "running") { $s } } "web running and crasher fatal"
    $web = $status.programs | Where-Object { $_.name -eq "web" }
    if (-not $web.pid) { throw "web has no pid" }
    $logs = "C:\ProgramData\Belay\logs\programs"
    Until { (Get-Content "$logs\web.log" -Raw) -match "serving pid $($web.pid)" } "web.log" | Out-Null
    Until { Test-Path "$logs\chatty.log.2" } "chatty's logs rotated" | Out-Null
    # user = LocalService: logged on without a password, started with its token in its own job (Wine cannot: its LogonUser is a stub).
    Until { (Get-Content "$logs\asservice.log" -Raw) -match "running as LOCAL SERVICE" } "asservice runs as LocalService" | Out-Null
    $nobody = (& $belay status --json | ConvertFrom-Json).programs | Where-Object { $_.name -eq "nobody" }
    if ($nobody.state -ne "fatal" -or $nobody.lastExit -notmatch "there is no such account") { throw "nobody: $($nobody.state) $($nobody.lastExit)" }

    # On Windows CTRL_BREAK reaches the program: it says so and exits 0.
    Run $belay @("stop", "web") | Out-Null
    if ((Get-Content "$logs\web.log" -Raw) -notmatch "got CTRL_BREAK, stopping") { throw "web did not get CTRL_BREAK" }
    $web = (& $belay status --json | ConvertFrom-Json).programs | Where-Object { $_.name -eq "web" }
    if ($web.lastExit -ne "exit 0") { throw "web's last exit is $($web.lastExit), not exit 0" }
    # A program that ignores it is ended with its job after stop_timeout.
    Run $belay @("stop", "stubborn") | Out-Null
    if ((Get-Content "C:\ProgramData\Belay\logs\agent.log" -Raw) -notmatch "stubborn \(pid \d+\) did not stop within 3 s; killing its job") { throw "stubborn was not ended after stop_timeout" }

    # The service's stop ends every program.
    Run "sc.exe" @("stop", "Belay") | Out-Null
    Until { (Get-Service Belay).Status -eq "Stopped" } "the service stopped" | Out-Null
    Until { -not (Get-Process winprog -ErrorAction SilentlyContinue) } "no winprog.exe left" | Out-Null
    Write-Output "windows smoke: programs ran, logged, rotated, went fatal, stopped by CTRL_BREAK and by their job, and ended with the service"
}
finally {
    & $belay uninstall --scope system | Out-Null
    Remove-Item -Recurse -Force $work, "C:\belay-smoke-tools" -ErrorAction SilentlyContinue
}
