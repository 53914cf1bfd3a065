#!/usr/bin/env pwsh
# ./build.ps1 TARGET [--option=value ...]: restores the pinned Cake tool and runs build.cake.
param([string]$Target = "test", [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest)
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
$env:DOTNET_CLI_TELEMETRY_OPTOUT = "1"; $env:DOTNET_NOLOGO = "1"
dotnet tool restore | Out-Null
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
dotnet tool run dotnet-cake build.cake --target=$Target @Rest
exit $LASTEXITCODE
