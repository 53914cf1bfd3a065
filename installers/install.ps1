# Belay installer for Windows (Windows PowerShell 5.1 and PowerShell 7).
#
#   irm https://FEED/install.ps1 | iex
#   & ([scriptblock]::Create((irm https://FEED/install.ps1))) -Channel beta -NoStart
#   & ([scriptblock]::Create((irm https://FEED/install.ps1))) -Help
#
# This is the template: `belay-release installers` renders it once per feed with the feed's
# URL, default channel, root key(s) and the SHA-256 of each Windows bootstrapper, and writes
# install.ps1 (and install.ps1.minisig) at the feed's root. docs/install.md has the options
# and what the script prints.
#
# PowerShell parses a whole script before it runs any of it. Below the parameters, everything
# is inside one script block, and inside it everything is in functions; the last lines call the
# main function and close the block. A download cut short anywhere is a parse error (nothing
# runs) or sets the parameters' defaults at most: it never runs a command. The file is ASCII on purpose:
# Windows PowerShell 5.1 reads a file without a byte order mark in the ANSI code page.

[CmdletBinding()]
param(
    [string] $Channel = '',
    [string] $Group = '',
    [string] $GroupIdentity = '',
    [string] $Version = '',
    [string] $Prefix = '',
    [string] $Wait = '',
    [switch] $NoStart,
    [switch] $DryRun,
    [switch] $Uninstall,
    [switch] $Purge,
    [string] $Rid = '',
    [string] $Feed = '',
    [switch] $AllowInsecureHttp,
    [string] $Hub = '',
    [string] $EnrollToken = '',
    [string] $HubCa = '',
    [switch] $Help
)

# Everything below is one script block that the '&' runs once its closing brace, the last line,
# has been read: a download cut short anywhere is a parse error, and nothing runs. The functions
# are defined inside it, so that `irm | iex` leaves none of them behind in the session.
& {
    # The feed's values, filled in by belay-release (each one a single-quoted PowerShell string).
    function Get-BelayFeed {
        @{
            FeedUrl          = {{FeedUrl}}
            Channel          = {{Channel}}
            RootKeys         = @({{RootKeys}})
            BootstrapVersion = {{BootstrapVersion}}
            # One entry per build: RID, path in the feed, SHA-256 of the bootstrapper.
            Builds           = @(
{{BuildTable}}
            )
        }
    }

    # The exit codes are belay's: 1 error, 2 usage, 3 trust failure, 4 feed unreachable, 5 needs
    # privileges. Throwing this stops the script; Invoke-BelayInstaller turns it into the code.
    function New-BelayFailure([int] $Code, [string] $Message) {
        $failure = New-Object System.Exception $Message
        $failure.Data['BelayExitCode'] = $Code
        $failure
    }

    function Write-BelayLine([string] $Message) {
        [Console]::Out.WriteLine("belay-install: $Message")
    }

    function Write-BelayWarning([string] $Message) {
        [Console]::Error.WriteLine("belay-install: $Message")
    }

    function Test-BelayTrue([string] $Value) {
        @('1', 'true', 'yes', 'on') -contains "$Value".ToLowerInvariant()
    }

    function Test-BelayWindows {
        # $IsWindows exists from PowerShell 6 on; Windows PowerShell 5.1 runs on Windows only.
        if ($PSVersionTable.PSEdition -ne 'Core') { return $true }
        return [bool] $IsWindows
    }

    function Write-BelayUsage($FeedInfo) {
        $url = $FeedInfo.FeedUrl
        $rids = ($FeedInfo.Builds | ForEach-Object { $_.Rid }) -join ', '
        @(
            "Installs the Belay agent from $url as a Windows service (needs an elevated PowerShell)",
            '',
            "usage: irm ${url}install.ps1 | iex",
            "       & ([scriptblock]::Create((irm ${url}install.ps1))) [options]",
            '',
            "  -Channel NAME        the channel to follow (default: $($FeedInfo.Channel))",
            '  -Group NAME          the group whose apps this host runs (default: default)',
            "  -GroupIdentity FILE  the group's age identity (age-keygen), copied owner-only",
            '  -Version V           install version V and stay on it',
            '  -Prefix DIR          install everything under DIR (default: Program Files\Belay, ProgramData\Belay)',
            '  -NoStart             lay everything out and register the service, but do not start it',
            '  -Wait DURATION       how long belay.exe waits for the agent to report ready (default: 60s)',
            '  -DryRun              say what would be done; download and change nothing',
            '  -Uninstall           run the installed belay.exe uninstall',
            '  -Purge               with -Uninstall: remove config, state and logs too',
            '  -Rid RID             take this build instead of the detected one',
            '  -Feed URL            a mirror of this feed (same files, same keys)',
            '  -AllowInsecureHttp   allow an http:// feed (or hub) that is not on loopback',
            '  -Hub URL             also connect to this Belay hub (live logs, the fleet page)',
            '  -EnrollToken TOKEN   with -Hub: the enrollment token (belay-hub token create)',
            "  -HubCa FILE          with -Hub: PEM of the CA that signed the hub's certificate",
            '  -Help                this help',
            '',
            'Environment instead of options (for irm | iex): BELAY_CHANNEL, BELAY_GROUP, BELAY_GROUP_IDENTITY,',
            'BELAY_VERSION, BELAY_PREFIX, BELAY_WAIT, BELAY_RID, BELAY_FEED, BELAY_HUB, BELAY_ENROLL_TOKEN, BELAY_HUB_CA,',
            'and =1 for BELAY_NO_START, BELAY_DRY_RUN, BELAY_UNINSTALL, BELAY_PURGE,',
            'BELAY_ALLOW_INSECURE_HTTP.',
            "Builds on this feed (bootstrapper $($FeedInfo.BootstrapVersion)): $rids"
        ) | ForEach-Object { [Console]::Out.WriteLine($_) }
    }

    # The options: parameters first, then the BELAY_* environment variables, then the feed's defaults.
    function Get-BelayOptions($FeedInfo, [hashtable] $Given) {
        function Pick([string] $Value, [string] $Variable) {
            if ($Value) { return $Value }
            return [string] [Environment]::GetEnvironmentVariable($Variable)
        }
        function Flag([bool] $Value, [string] $Variable) {
            if ($Value) { return $true }
            return (Test-BelayTrue ([Environment]::GetEnvironmentVariable($Variable)))
        }
        $o = @{
            Channel           = Pick $Given.Channel 'BELAY_CHANNEL'
            Group             = Pick $Given.Group 'BELAY_GROUP'
            GroupIdentity     = Pick $Given.GroupIdentity 'BELAY_GROUP_IDENTITY'
            Version           = Pick $Given.Version 'BELAY_VERSION'
            Prefix            = Pick $Given.Prefix 'BELAY_PREFIX'
            Wait              = Pick $Given.Wait 'BELAY_WAIT'
            Rid               = Pick $Given.Rid 'BELAY_RID'
            Feed              = Pick $Given.Feed 'BELAY_FEED'
            NoStart           = Flag $Given.NoStart 'BELAY_NO_START'
            DryRun            = Flag $Given.DryRun 'BELAY_DRY_RUN'
            Uninstall         = Flag $Given.Uninstall 'BELAY_UNINSTALL'
            Purge             = Flag $Given.Purge 'BELAY_PURGE'
            AllowInsecureHttp = Flag $Given.AllowInsecureHttp 'BELAY_ALLOW_INSECURE_HTTP'
            Hub               = Pick $Given.Hub 'BELAY_HUB'
            EnrollToken       = Pick $Given.EnrollToken 'BELAY_ENROLL_TOKEN'
            HubCa             = Pick $Given.HubCa 'BELAY_HUB_CA'
        }
        if (-not $o.Hub -and ($o.EnrollToken -or $o.HubCa)) {
            throw (New-BelayFailure 2 '-EnrollToken and -HubCa go with -Hub URL')
        }
        if (-not $o.Channel) { $o.Channel = $FeedInfo.Channel }
        if ($o.Channel -cnotmatch '^[a-z0-9_-][a-z0-9._-]*$') {
            throw (New-BelayFailure 2 "-Channel '$($o.Channel)': use lower-case letters, digits, '.', '-' and '_'")
        }
        if ($o.Group -and $o.Group -cnotmatch '^[a-z0-9][a-z0-9._-]{0,63}$') {
            throw (New-BelayFailure 2 "-Group '$($o.Group)': use lower-case letters, digits, '.', '-' and '_', starting with a letter or digit")
        }
        if ($o.GroupIdentity) {
            # belay.exe runs from a temporary folder: hand it the full path (from PowerShell's location, not the process's).
            $o.GroupIdentity = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($o.GroupIdentity)
            if (-not (Test-Path -LiteralPath $o.GroupIdentity -PathType Leaf)) {
                throw (New-BelayFailure 2 "-GroupIdentity $($o.GroupIdentity): no such file (make one with age-keygen -o FILE)")
            }
        }
        if ($o.Version -and $o.Version -notmatch '^[A-Za-z0-9.+-]+$') {
            throw (New-BelayFailure 2 "-Version '$($o.Version)' is not a version like 1.4.2")
        }
        if ($o.Wait -and $o.Wait -cnotmatch '^[0-9]+[smhdw]\z') {
            throw (New-BelayFailure 2 "-Wait '$($o.Wait)': give a duration like 90s, 5m or 1h")
        }
        if ($o.Purge -and -not $o.Uninstall) {
            throw (New-BelayFailure 2 '-Purge goes with -Uninstall')
        }
        $o
    }

    # The RID of this Windows: the OS's CPU, not this process's (an x64 PowerShell on an arm64
    # Windows is emulated). On arm64 without an arm64 build, the x64 one runs under emulation.
    function Get-BelayRid($FeedInfo) {
        $arch = $null
        try {
            $arch = [string] [System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture
        } catch {
            $arch = $null
        }
        if (-not $arch) {
            $arch = $env:PROCESSOR_ARCHITEW6432
            if (-not $arch) { $arch = $env:PROCESSOR_ARCHITECTURE }
        }
        switch -regex ($arch) {
            '^(X64|AMD64)$' { $cpu = 'x64'; break }
            '^(Arm64|ARM64)$' { $cpu = 'arm64'; break }
            default {
                $rids = ($FeedInfo.Builds | ForEach-Object { $_.Rid }) -join ', '
                throw (New-BelayFailure 1 "there is no Belay build for Windows on $arch. Builds on this feed: $rids. Belay runs on x64 and arm64 Windows.")
            }
        }
        $rid = "win-$cpu"
        if ($cpu -eq 'arm64' -and -not (Find-BelayBuild $FeedInfo $rid) -and (Find-BelayBuild $FeedInfo 'win-x64')) {
            Write-BelayLine 'this feed has no win-arm64 build: taking win-x64, which Windows on arm64 runs under emulation'
            $rid = 'win-x64'
        }
        $detail = "Windows $arch"
        if (-not (Test-BelayWindows)) { $detail = "$([Environment]::OSVersion.Platform) $arch, taken as Windows (test hook BELAY_INSTALL_PS1_TEST)" }
        @{ Rid = $rid; Detail = $detail }
    }

    function Find-BelayBuild($FeedInfo, [string] $Rid) {
        foreach ($build in $FeedInfo.Builds) {
            if ($build.Rid -eq $Rid) { return $build }
        }
        return $null
    }

    # The feed URL ending in '/': https, or http on loopback (or with -AllowInsecureHttp).
    function Get-BelayFeedUrl($FeedInfo, $Options) {
        $url = $Options.Feed
        if (-not $url) { $url = $FeedInfo.FeedUrl }
        if (-not $url.EndsWith('/')) { $url = "$url/" }
        $uri = $null
        if (-not [Uri]::TryCreate($url, [UriKind]::Absolute, [ref] $uri) -or ($uri.Scheme -ne 'https' -and $uri.Scheme -ne 'http')) {
            throw (New-BelayFailure 2 "feed '$url': use an https:// URL")
        }
        $insecure = $false
        if ($uri.Scheme -eq 'http') {
            $insecure = $true
            if (-not $uri.IsLoopback) {
                if ($Options.AllowInsecureHttp) {
                    Write-BelayWarning "warning: $url is plain http (allowed by -AllowInsecureHttp); the pinned SHA-256 and the feed's signatures still protect what is installed"
                } else {
                    throw (New-BelayFailure 1 "$url is plain http and not on loopback: use its https:// address, or -AllowInsecureHttp if you really mean it")
                }
            }
        }
        @{ Url = $url; Insecure = $insecure }
    }

    # TLS 1.2 or later. Windows PowerShell 5.1 (.NET Framework) may default to TLS 1.0: add 1.2
    # (and 1.3 where the framework knows it) to what the process allows.
    function Enable-BelayTls {
        if ($PSVersionTable.PSEdition -eq 'Core') { return }
        $protocols = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
        if ([Enum]::GetNames([Net.SecurityProtocolType]) -contains 'Tls13') {
            $protocols = $protocols -bor [Net.SecurityProtocolType]::Tls13
        }
        [Net.ServicePointManager]::SecurityProtocol = $protocols
    }

    # Invoke-WebRequest, three tries. HTTP and proxy settings are PowerShell's own: Windows
    # PowerShell uses the system (WinINet) proxy, PowerShell 7 also HTTPS_PROXY/HTTP_PROXY/NO_PROXY.
    function Invoke-BelayDownload([string] $Url, [string] $OutFile) {
        $arguments = @{ Uri = $Url; OutFile = $OutFile; UseBasicParsing = $true; TimeoutSec = 300; ErrorAction = 'Stop' }
        if ($PSVersionTable.PSEdition -eq 'Core') {
            $arguments['SslProtocol'] = 'Tls12'
            if ($PSVersionTable.PSVersion -ge [Version] '7.1') { $arguments['SslProtocol'] = 'Tls12, Tls13' }
        }
        $ProgressPreference = 'SilentlyContinue'   # the progress bar slows 5.1's downloads many times over
        $lastError = $null
        for ($attempt = 1; $attempt -le 3; $attempt++) {
            try {
                Invoke-WebRequest @arguments | Out-Null
                return
            } catch {
                $lastError = $_.Exception.Message
                Remove-Item -LiteralPath $OutFile -Force -ErrorAction SilentlyContinue
                if ($attempt -lt 3) { Start-Sleep -Seconds 2 }
            }
        }
        throw (New-BelayFailure 4 "could not download $Url ($lastError): check the network, a proxy and that the feed is up, then run this again")
    }

    function Get-BelaySha256([string] $Path) {
        (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
    }

    # A machine install registers a service: it needs an elevated (Administrator) PowerShell.
    function Test-BelayElevated {
        $identity = [Security.Principal.WindowsIdentity]::GetCurrent()
        $principal = New-Object Security.Principal.WindowsPrincipal $identity
        $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
    }

    function Assert-BelayElevated($FeedInfo) {
        if (-not (Test-BelayWindows)) { return }   # the test hook: nothing to elevate
        if (Test-BelayElevated) { return }
        $url = $FeedInfo.FeedUrl
        throw (New-BelayFailure 5 ("installing Belay registers a Windows service and needs an elevated PowerShell. " +
            "Open one (right-click Windows PowerShell, Run as administrator) and run this again, or from here: " +
            "Start-Process powershell -Verb RunAs -ArgumentList '-NoProfile','-ExecutionPolicy','Bypass','-Command','irm ${url}install.ps1 | iex'"))
    }

    # COMMAND as one line, for messages: words with spaces or quotes in single quotes.
    function Format-BelayCommand([string[]] $Words) {
        $secretNext = $false
        ($Words | ForEach-Object {
            $word = $_
            if ($secretNext) { $word = '***' }
            $secretNext = ($_ -eq '--enroll-token')
            if ($word -match '^[A-Za-z0-9_./:=@%+,\\-]+$') { $word } else { "'" + ($word -replace "'", "''") + "'" }
        }) -join ' '
    }

    # The installed belay.exe, by the layout belay install uses (docs/operating.md).
    function Get-BelayInstalledExe($Options) {
        if ($Options.Prefix) { return (Join-Path (Join-Path $Options.Prefix 'bin') 'belay.exe') }
        # A 32-bit PowerShell sees Program Files (x86) as ProgramFiles; belay.exe is 64-bit.
        $programFiles = $env:ProgramW6432
        if (-not $programFiles) { $programFiles = [Environment]::GetFolderPath([Environment+SpecialFolder]::ProgramFiles) }
        Join-Path $programFiles 'Belay\bin\belay.exe'
    }

    # Runs belay.exe with its output on the console; returns its exit code.
    function Invoke-BelayExe([string] $Exe, [string[]] $Arguments) {
        & $Exe @Arguments | Out-Host
        $LASTEXITCODE
    }

    function Uninstall-Belay($FeedInfo, $Options) {
        $exe = Get-BelayInstalledExe $Options
        $arguments = @('uninstall', '--scope', 'system')
        if ($Options.Prefix) { $arguments += @('--prefix', $Options.Prefix) }
        if ($Options.Purge) { $arguments += '--purge' }
        if ($Options.DryRun) {
            Write-BelayLine "would run: $(Format-BelayCommand (@($exe) + $arguments))"
            Write-BelayLine 'dry run: nothing changed'
            return 0
        }
        if (-not (Test-Path -LiteralPath $exe -PathType Leaf)) {
            throw (New-BelayFailure 1 "Belay is not installed here ($exe not found). Give the -Prefix it was installed with.")
        }
        Assert-BelayElevated $FeedInfo
        Write-BelayLine "running: $(Format-BelayCommand (@($exe) + $arguments))"
        if (-not (Test-BelayWindows)) {
            Write-BelayLine 'test hook (not Windows): stopping before running belay.exe'
            return 0
        }
        $code = Invoke-BelayExe $exe $arguments
        if ($code -ne 0) {
            throw (New-BelayFailure $code "belay uninstall failed (exit $code); see its message above")
        }
        return 0
    }

    function Install-Belay($FeedInfo, $Options) {
        $platform = Get-BelayRid $FeedInfo
        $rid = $platform.Rid
        if ($Options.Rid) {
            Write-BelayLine "platform: $($platform.Detail) (detected $rid); using -Rid $($Options.Rid)"
            $rid = $Options.Rid
        } else {
            Write-BelayLine "platform: $($platform.Detail) -> build $rid"
        }
        $build = Find-BelayBuild $FeedInfo $rid
        if (-not $build) {
            $rids = ($FeedInfo.Builds | ForEach-Object { $_.Rid }) -join ', '
            throw (New-BelayFailure 1 "this feed has no Belay build for $rid. Builds on this feed: $rids.")
        }
        $feedUrl = Get-BelayFeedUrl $FeedInfo $Options
        $buildUrl = $feedUrl.Url + $build.Path

        $arguments = @('install', '--feed', $feedUrl.Url, '--channel', $Options.Channel, '--scope', 'system')
        foreach ($key in $FeedInfo.RootKeys) { $arguments += @('--root-key', $key) }
        if ($Options.Group) { $arguments += @('--group', $Options.Group) }
        if ($Options.GroupIdentity) { $arguments += @('--group-identity', $Options.GroupIdentity) }
        if ($Options.Version) { $arguments += @('--version', $Options.Version) }
        if ($Options.Prefix) { $arguments += @('--prefix', $Options.Prefix) }
        $arguments += @('--service-manager', 'windows')
        if ($Options.Wait) { $arguments += @('--wait', $Options.Wait) }
        if ($Options.NoStart) { $arguments += '--no-start' }
        if ($feedUrl.Insecure -and $Options.AllowInsecureHttp) { $arguments += '--allow-insecure-http' }
        if ($Options.Hub) {
            $arguments += @('--hub', $Options.Hub)
            if (-not $feedUrl.Insecure -and $Options.AllowInsecureHttp) { $arguments += '--allow-insecure-http' }
        }
        if ($Options.EnrollToken) { $arguments += @('--enroll-token', $Options.EnrollToken) }
        if ($Options.HubCa) { $arguments += @('--hub-ca', $Options.HubCa) }

        if ($Options.DryRun) {
            Write-BelayLine "would download $buildUrl with Invoke-WebRequest and check that its SHA-256 is $($build.Sha256) (with Get-FileHash)"
            Write-BelayLine "would run: $(Format-BelayCommand (@('belay.exe') + $arguments))"
            Write-BelayLine 'dry run: nothing downloaded, nothing installed'
            return 0
        }
        Assert-BelayElevated $FeedInfo
        Enable-BelayTls
        $work = Join-Path ([IO.Path]::GetTempPath()) ('belay-install-' + [Guid]::NewGuid().ToString('N').Substring(0, 12))
        New-Item -ItemType Directory -Path $work -Force | Out-Null
        try {
            $exe = Join-Path $work 'belay.exe'
            Write-BelayLine "downloading $buildUrl"
            Invoke-BelayDownload $buildUrl $exe
            $actual = Get-BelaySha256 $exe
            if ($actual -ne $build.Sha256) {
                throw (New-BelayFailure 3 ("the download from $buildUrl has SHA-256 $actual, but this install.ps1 pins $($build.Sha256): refusing to run it, nothing was installed. " +
                    "A proxy or mirror may have altered it, or the feed changed after this script was generated: fetch install.ps1 again, and if it persists, tell the feed's publisher."))
            }
            Write-BelayLine "verified SHA-256 $actual ($($build.Path))"
            Write-BelayLine "running: $(Format-BelayCommand (@('belay.exe') + $arguments))"
            if (-not (Test-BelayWindows)) {
                Write-BelayLine 'test hook (not Windows): stopping before running belay.exe'
                return 0
            }
            $code = Invoke-BelayExe $exe $arguments
            if ($code -ne 0) {
                throw (New-BelayFailure $code "belay install failed (exit $code); see its message above. Running this again is safe.")
            }
            return 0
        } finally {
            Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
        }
    }

    # Returns the exit code; prints what failed.
    function Invoke-BelayInstaller([hashtable] $Given) {
        try {
            $feedInfo = Get-BelayFeed
            if ($feedInfo.FeedUrl -isnot [string]) {
                throw (New-BelayFailure 1 'this is the install.ps1 template; run the install.ps1 that belay-release generated for your feed')
            }
            if ($Given.Help) {
                Write-BelayUsage $feedInfo
                return 0
            }
            if (-not (Test-BelayWindows) -and -not (Test-BelayTrue $env:BELAY_INSTALL_PS1_TEST)) {
                throw (New-BelayFailure 1 "this is not Windows: use install.sh instead: curl -fsSL $($feedInfo.FeedUrl)install.sh | sh")
            }
            $options = Get-BelayOptions $feedInfo $Given
            if ($options.Uninstall) {
                return (Uninstall-Belay $feedInfo $options)
            }
            return (Install-Belay $feedInfo $options)
        } catch {
            $code = $_.Exception.Data['BelayExitCode']
            if ($null -eq $code) { $code = 1 }
            [Console]::Error.WriteLine("belay-install: error: $($_.Exception.Message)")
            return [int] $code
        }
    }

    # Run as a file (powershell -File install.ps1), the exit code is the process's; under iex or
    # a script block it is $LASTEXITCODE, and a failure also throws, so that the caller stops.
    function Complete-BelayInstaller([int] $Code, [bool] $AsFile) {
        $global:LASTEXITCODE = $Code
        if ($AsFile) { exit $Code }
        if ($Code -ne 0) { throw "install.ps1 failed with exit code $Code (see the message above)" }
    }

    Complete-BelayInstaller (Invoke-BelayInstaller @{ Channel = $Channel; Group = $Group; GroupIdentity = $GroupIdentity; Version = $Version; Prefix = $Prefix; Wait = $Wait; NoStart = [bool] $NoStart; DryRun = [bool] $DryRun; Uninstall = [bool] $Uninstall; Purge = [bool] $Purge; Rid = $Rid; Feed = $Feed; AllowInsecureHttp = [bool] $AllowInsecureHttp; Hub = $Hub; EnrollToken = $EnrollToken; HubCa = $HubCa; Help = [bool] $Help }) ([bool] $PSCommandPath)
}
