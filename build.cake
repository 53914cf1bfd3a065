// The Belay build. Run through ./build.sh TARGET (or ./build.ps1).
//
//   build    compile everything (Release)
//   test     publish the NativeAOT executables once (for the host and, cross-compiled, for
//            linux-arm64), then run every test project against them; the arm64 ones run under
//            qemu-user (install-deps.sh cross); ends with one line "N passed, N failed, N skipped"
//   test-arm64  only the linux-arm64 end-to-end tests (part of test)
//   publish-arm64  the linux-arm64 NativeAOT executables in artifacts/publish/linux-arm64/ (part of test)
//   build-windows  compile the executables for win-x64 (part of test: Windows code is checked here too)
//   publish-windows  belay.exe for win-x64 in artifacts/publish/win-x64/ (self-contained, trimmed, single
//            file), what the Wine end-to-end test runs (part of test)
//   publish  NativeAOT executables (belay-keeper, belay, belay-agent, belay-release, belay-hub) for the host RID in
//            artifacts/publish/<rid>/ (trim and AOT warnings are errors); prints their sizes
//   publish-rids  every RID the install scripts offer (linux-arm64 NativeAOT cross-compiled, win/osx single
//            file) into artifacts/publish/<rid>/; see docs/platforms.md
//   package  per-RID agent archives in artifacts/packages/<rid>/ (.tar.gz; .zip on Windows)
//   feed     a signed local feed in artifacts/feed/ from the packages, checked by verify-feed
//   demo     publish, then scripts/demo.sh: install from a local feed into a temporary prefix,
//            update by itself, roll back a broken release by itself; deploy the demo app
//            (demo-app: samples/hello-app built with cc), update it, roll back a release whose
//            health check fails, deliver a secret; clean up
//   bench    publish, then benchmarks/bench.sh: footprint, size, latency and fleet scale side by side;
//            writes benchmarks/results/DATE[-quick|-long].md (--quick: a short form, under 3 minutes;
//            --long: a 30-minute footprint window for the steady state; --only=footprint,size,... a subset)
//   clean    remove build output (keeps .keys/)
//
// Options: --configuration=Release  --build-version=1.2.3  --root-key=<minisign base64>
// A build with no --root-key trusts the developer key in .keys/, generated once here.

using System.Runtime.InteropServices;
using System.Xml.Linq;

var target = Argument("target", "test");
var configuration = Argument("configuration", "Release");
var buildVersion = Argument("build-version", "");
var rootKeyArg = Argument("root-key", EnvironmentVariable("BELAY_ROOT_KEYS") ?? "");
var testFilter = Argument("filter", "");

var repo = MakeAbsolute(Directory("."));
var artifacts = repo.Combine("artifacts");
var keysDir = repo.Combine(".keys");
var rid = RuntimeInformation.RuntimeIdentifier;
var publishDir = artifacts.Combine("publish").Combine(rid);
var packagesDir = artifacts.Combine("packages").Combine(rid);
var feedDir = artifacts.Combine("feed");
var testResults = artifacts.Combine("test-results");
var exe = OperatingSystem.IsWindows() ? ".exe" : "";

// In build order: belay embeds the belay-keeper built just before it for the same RID (it lays it out
// at install; `belay run` execs it on Unix). Windows runs the keeper inside belay.exe: no belay-keeper there.
var executables = new (string Project, string Name)[]
{
    ("keeper/Belay.Keeper.csproj", "belay-keeper"),
    ("bootstrapper/Belay.Bootstrapper.csproj", "belay"),
    ("agent/Belay.Agent.csproj", "belay-agent"),
    ("packaging/Belay.Release.csproj", "belay-release"),
};

// The hub (hub/, docs/hub.md) is a NativeAOT executable too, built by publish and tested by test,
// but not offered per RID by the install scripts: publish-rids leaves it out (its SQLite is linked
// from the build machine's libsqlite3-dev, see hub/Belay.Hub.csproj).
var hubExecutable = ("hub/Belay.Hub.csproj", "belay-hub");
var published = executables.Append(hubExecutable).ToArray();

DotNetMSBuildSettings BuildProperties()
{
    var settings = new DotNetMSBuildSettings().SetConfiguration(configuration);
    if (!string.IsNullOrEmpty(buildVersion)) settings = settings.WithProperty("Version", buildVersion);
    if (!string.IsNullOrEmpty(rootKeyArg)) settings = settings.WithProperty("BelayRootKeys", rootKeyArg.Replace(";", "%3B"));
    return settings;
}

// belay is published with the keeper of the same RID embedded (see the executables above); the property
// stays on a reused settings object, where the projects after belay ignore it.
DotNetMSBuildSettings WithKeeper(DotNetMSBuildSettings settings, string name, string targetRid, DirectoryPath dir) =>
    name == "belay" && !targetRid.StartsWith("win-")
        ? settings.WithProperty("BelayKeeperBinary", dir.CombineWithFilePath("belay-keeper").FullPath)
        : settings;

int Run(string tool, string args, bool check = true, IDictionary<string, string> env = null)
{
    var settings = new ProcessSettings { Arguments = args, WorkingDirectory = repo };
    if (env != null) settings.EnvironmentVariables = env;
    var code = StartProcess(tool, settings);
    if (check && code != 0) throw new CakeException($"{tool} {args} exited {code}");
    return code;
}

string Capture(string tool, string args)
{
    IEnumerable<string> output;
    var code = StartProcess(tool, new ProcessSettings { Arguments = args, WorkingDirectory = repo, RedirectStandardOutput = true }, out output);
    if (code != 0) throw new CakeException($"{tool} {args} exited {code}");
    return string.Join("\n", output).Trim();
}

string ReleaseTool() => publishDir.CombineWithFilePath("belay-release" + exe).FullPath;

// `--version` prints "0.1.0 (commit ..., date, rid)": the version is its first word.
string ProductVersion(string tool) => Capture(tool, "--version").Split(' ')[0];

Task("clean")
    .Does(() =>
{
    CleanDirectory(artifacts);
    foreach (var dir in GetDirectories("./**/bin").Concat(GetDirectories("./**/obj")))
    {
        if (!dir.FullPath.Contains("/.git/")) DeleteDirectory(dir, new DeleteDirectorySettings { Recursive = true, Force = true });
    }
});

Task("deps")
    .Description("Install the native toolchain NativeAOT links with and the real tools the tests use (apt), when missing and allowed.")
    .Does(() =>
{
    if (OperatingSystem.IsLinux()) Run("sh", "scripts/install-deps.sh");
});

// A developer key pair, once: the local feed is signed with it and the local binaries trust it.
Task("keys")
    .Does(() =>
{
    if (!string.IsNullOrEmpty(rootKeyArg)) { Information("root key given on the command line; not using .keys/"); return; }
    // A .keys/ made before the deploy role gains just the deploy pair: the root and release keys stay.
    var roles = FileExists(keysDir.CombineWithFilePath("root.pub")) ? (FileExists(keysDir.CombineWithFilePath("deploy.pub")) ? "" : " --role deploy") : null;
    if (roles == "") return;
    Information(roles == null ? "generating the developer key pairs in .keys/ (kept out of git)" : "generating the developer deploy key pair in .keys/");
    Run("dotnet", $"run --project packaging/Belay.Release.csproj -c {configuration} -p:PublishAot=false -- keygen --out \"{keysDir}\"{roles}");
});

Task("build")
    .IsDependentOn("keys")
    .Does(() =>
{
    DotNetBuild("Belay.slnx", new DotNetBuildSettings { Configuration = configuration, MSBuildSettings = BuildProperties() });
});

Task("publish")
    .IsDependentOn("deps")
    .IsDependentOn("keys")
    .Does(() =>
{
    EnsureDirectoryExists(publishDir);
    foreach (var (project, name) in published)
    {
        if (name == "belay-keeper" && OperatingSystem.IsWindows()) continue;
        DotNetPublish(project, new DotNetPublishSettings
        {
            Configuration = configuration,
            Runtime = rid,
            OutputDirectory = publishDir,
            MSBuildSettings = WithKeeper(BuildProperties().WithProperty("PublishAot", "true").WithProperty("TreatWarningsAsErrors", "true"), name, rid, publishDir),
        });
    }
    Information("");
    Information($"NativeAOT executables for {rid} in {publishDir}:");
    foreach (var (_, name) in published)
    {
        var file = publishDir.CombineWithFilePath(name + exe);
        var version = Capture(file.FullPath, "--version");
        Information($"  {name + exe,-18} {new FileInfo(file.FullPath).Length,12:N0} bytes  version {version}");
    }
});

Task("package")
    .IsDependentOn("publish")
    .Does(() =>
{
    var version = ProductVersion(ReleaseTool());
    var staging = artifacts.Combine("staging").Combine(rid);
    CleanDirectory(staging);
    CopyFile(publishDir.CombineWithFilePath("belay-agent" + exe), staging.CombineWithFilePath("belay-agent" + exe));
    EnsureDirectoryExists(packagesDir);
    Run(ReleaseTool(), $"package --rid {rid} --version {version} --input \"{staging}\" --out \"{packagesDir}\"",
        env: new Dictionary<string, string> { ["SOURCE_DATE_EPOCH"] = "946684800" });
});

Task("feed")
    .IsDependentOn("package")
    .Does(() =>
{
    if (!string.IsNullOrEmpty(rootKeyArg)) throw new CakeException("the local feed is signed with the developer keys in .keys/; build it without --root-key");
    var version = ProductVersion(ReleaseTool());
    CleanDirectory(feedDir);
    var archive = packagesDir.CombineWithFilePath($"belay-agent-{version}-{rid}" + (rid.StartsWith("win-") ? ".zip" : ".tar.gz"));
    Run(ReleaseTool(), $"init --feed \"{feedDir}\" --root-key \"{keysDir}/root.key\" --release-key \"{keysDir}/release.pub\" --deploy-key \"{keysDir}/deploy.pub\"");
    Run(ReleaseTool(), $"publish --feed \"{feedDir}\" --channel stable --version {version} --artifact {rid}=\"{archive}\" --bootstrap {rid}=\"{publishDir}/belay{exe}\" --key \"{keysDir}/release.key\"");
    Run(ReleaseTool(), $"verify-feed --feed \"{feedDir}\" --root-key \"{keysDir}/root.pub\"");
    Information("");
    Information($"Feed written to {feedDir}. Check it with the stock minisign tool:");
    Information($"  minisign -V -p {keysDir}/release.pub -m {feedDir}/channels/stable.json");
    Information($"  minisign -V -p {keysDir}/root.pub -m {feedDir}/root.json");
    Information($"Serve it locally: {ReleaseTool()} serve --feed {feedDir}");
});

// The demo app (samples/hello-app): a tiny HTTP server in C, built with the C compiler NativeAOT
// needs anyway, that the demo deploys with its belay-app.conf and hooks.
var demoAppDir = artifacts.Combine("demo-app").Combine(rid);
Task("demo-app")
    .Description("Build the demo app (samples/hello-app/hello.c) into artifacts/demo-app/<rid>/hello.")
    .Does(() =>
{
    if (OperatingSystem.IsWindows()) throw new CakeException("the demo app is built with cc on Linux or macOS");
    EnsureDirectoryExists(demoAppDir);
    Run("cc", $"-O2 -Wall -Wextra -Werror -o \"{demoAppDir}/hello\" samples/hello-app/hello.c");
    Information($"demo app: {demoAppDir}/hello");
});

Task("demo")
    .Description("Publish, then install from a local feed, update and roll back by themselves, deploy an app, update it, roll back a bad release of it, deliver a secret, in a temporary folder (scripts/demo.sh).")
    .IsDependentOn("publish")
    .IsDependentOn("demo-app")
    .Does(() =>
{
    if (!string.IsNullOrEmpty(rootKeyArg)) throw new CakeException("the demo signs its feed with the developer keys in .keys/; build it without --root-key");
    if (OperatingSystem.IsWindows()) throw new CakeException("the demo is a POSIX sh script; run it on Linux (or macOS)");
    Run("sh", $"scripts/demo.sh \"artifacts/publish/{rid}\"");
});

// The benchmarks (benchmarks/README.md): the bench-only tools (supervisor, xz, openssl) through
// install-deps.sh's bench mode, then benchmarks/bench.sh on the binaries just published. Targets
// are reported as PASS/MISS in the report; only a bench that cannot run fails the build.
var quick = HasArgument("quick");
var longBench = HasArgument("long");
var onlyPhases = Argument("only", "");

Task("bench")
    .Description("Publish, then benchmarks/bench.sh: footprint, size, latency and fleet scale; a report in benchmarks/results/.")
    .IsDependentOn("publish")
    .Does(() =>
{
    if (!string.IsNullOrEmpty(rootKeyArg)) throw new CakeException("the bench signs its feeds with the developer keys in .keys/; build it without --root-key");
    if (!OperatingSystem.IsLinux()) throw new CakeException("the bench reads /proc and runs nginx and supervisord: run it on Linux");
    Run("sh", "scripts/install-deps.sh bench");
    var flags = (quick ? " --quick" : "") + (longBench ? " --long" : "") + (onlyPhases.Length > 0 ? $" --only {onlyPhases}" : "");
    var command = "./build.sh bench" + flags.Replace(" --only ", " --only=", StringComparison.Ordinal);
    Run("sh", $"benchmarks/bench.sh --bin \"{publishDir}\" --command \"{command}\"" + flags);
});

// Every RID the install scripts offer, each into artifacts/publish/<rid>/ (docs/platforms.md): the
// host's NativeAOT build (publish); linux-arm64 as NativeAOT too, cross-compiled on linux-x64 with
// clang and Debian's aarch64 cross binutils and libc (gcc-aarch64-linux-gnu, binutils-aarch64-linux-gnu,
// libc6-dev-arm64-cross); win-x64, osx-x64 and osx-arm64 self-contained, trimmed, single file
// (NativeAOT cannot cross OS). Not part of test, except linux-arm64 (publish-arm64). --rids=a,b picks some.
var publishRids = Argument("rids", "linux-x64,linux-arm64,win-x64,osx-x64,osx-arm64");

string FindOnPath(params string[] names)
{
    var dirs = (EnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
    foreach (var name in names)
        foreach (var dir in dirs)
            if (System.IO.File.Exists(System.IO.Path.Combine(dir, name))) return System.IO.Path.Combine(dir, name);
    return null;
}

Task("deps-cross")
    .Description("Install the linux-arm64 cross toolchain, and qemu-user registered through binfmt_misc with the arm64 libraries (apt), when missing and allowed.")
    .Does(() =>
{
    if (OperatingSystem.IsLinux()) Run("sh", "scripts/install-deps.sh cross");
});

// The three executables for another RID into artifacts/publish/<target>/: NativeAOT cross-compiled for
// glibc Linux (clang with the target's binutils and libc), else self-contained, trimmed, single file.
// dotnet publish is incremental (the ILCompiler and link steps have inputs and outputs), so a second
// call for the same RID, as publish-rids makes after test, redoes nothing that is up to date.
string PublishFor(string target)
{
    var dir = artifacts.Combine("publish").Combine(target);
    var settings = BuildProperties().WithProperty("TreatWarningsAsErrors", "true");
    string how;
    if (OperatingSystem.IsLinux() && target.StartsWith("linux-") && !target.StartsWith("linux-musl-"))
    {
        var arch = target.EndsWith("-arm64") ? "aarch64" : "x86_64";
        var clang = FindOnPath("clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14")
            ?? throw new CakeException($"{target} is cross-compiled with clang: apt-get install clang gcc-{arch.Replace('_', '-')}-linux-gnu binutils-{arch.Replace('_', '-')}-linux-gnu libc6-dev-{(arch == "aarch64" ? "arm64" : "amd64")}-cross");
        settings = settings.WithProperty("PublishAot", "true").WithProperty("CppCompilerAndLinker", clang);
        var objcopy = FindOnPath($"{arch}-linux-gnu-objcopy", "llvm-objcopy");
        if (objcopy != null) settings = settings.WithProperty("ObjCopyName", objcopy);
        how = $"NativeAOT, cross-compiled with {System.IO.Path.GetFileName(clang)}";
    }
    else
    {
        settings = settings.WithProperty("PublishAot", "false").WithProperty("PublishTrimmed", "true").WithProperty("PublishSingleFile", "true");
        how = "self-contained, trimmed, single file";
    }
    foreach (var (project, name) in executables)
    {
        if (name == "belay-keeper" && target.StartsWith("win-")) continue;
        DotNetPublish(project, new DotNetPublishSettings
        {
            Configuration = configuration,
            Runtime = target,
            SelfContained = true,
            OutputDirectory = dir,
            MSBuildSettings = WithKeeper(settings, name, target, dir),
        });
    }
    return how;
}

// The linux-arm64 NativeAOT build that the arm64 end-to-end tests run under qemu-user
// (tests/Belay.EndToEnd.Tests/Arm64, docs/platforms.md). On a linux-arm64 host it is the host's
// own build (publish); elsewhere than Linux x64 it is not made, and those tests skip.
var arm64Dir = rid == "linux-arm64" ? publishDir : artifacts.Combine("publish").Combine("linux-arm64");

Task("publish-arm64")
    .Description("Cross-compile belay, belay-agent and belay-release for linux-arm64 (NativeAOT) into artifacts/publish/linux-arm64/; part of test.")
    .IsDependentOn("deps-cross")
    .IsDependentOn("keys")
    .WithCriteria(() => OperatingSystem.IsLinux() && rid == "linux-x64")
    .Does(() =>
{
    var watch = System.Diagnostics.Stopwatch.StartNew();
    var how = PublishFor("linux-arm64");
    Information($"linux-arm64: {how}, {watch.Elapsed.TotalSeconds:F0} s, in {arm64Dir}");
    foreach (var (_, name) in executables)
    {
        Information($"  {name,-18} {new FileInfo(arm64Dir.CombineWithFilePath(name).FullPath).Length,12:N0} bytes");
    }
});

Task("publish-rids")
    .Description("Build belay, belay-agent and belay-release for every RID the install scripts offer into artifacts/publish/<rid>/, print sizes, and smoke-run linux-arm64 under qemu.")
    .IsDependentOn("publish")
    .IsDependentOn("deps-cross")
    .Does(() =>
{
    var timings = new List<string>();
    foreach (var target in publishRids.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
    {
        if (target == rid) { timings.Add($"{target}: NativeAOT (publish, the host)"); continue; }
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var how = PublishFor(target);
        timings.Add($"{target}: {how}, {watch.Elapsed.TotalSeconds:F0} s");
    }
    Information("");
    foreach (var line in timings) Information(line);
    foreach (var target in publishRids.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
    {
        var suffix = target.StartsWith("win-") ? ".exe" : "";
        foreach (var (_, name) in executables)
        {
            if (name == "belay-keeper" && target.StartsWith("win-")) continue;
            var file = artifacts.Combine("publish").Combine(target).CombineWithFilePath(name + suffix);
            Information($"  {target,-12} {name + suffix,-18} {new FileInfo(file.FullPath).Length,12:N0} bytes");
        }
    }
    // Seen to run: linux-arm64 under qemu-user (.NET does not support QEMU, but these smoke runs
    // work). -L and LD_LIBRARY_PATH keep the cross libc's loader and libc together. The smoke
    // verifies a minisign signature (Ed25519 and BLAKE2b on arm64) and refuses a tampered file.
    var arm64 = artifacts.Combine("publish").Combine("linux-arm64").CombineWithFilePath("belay");
    if (rid == "linux-x64" && FileExists(arm64))
    {
        var qemu = FindOnPath("qemu-aarch64");
        if (qemu == null)
        {
            Warning("SKIPPED: linux-arm64 smoke run: no qemu-aarch64 (sh scripts/install-deps.sh cross installs qemu-user)");
            return;
        }
        var smoke = artifacts.Combine("qemu-smoke");
        EnsureDirectoryExists(smoke);
        CleanDirectory(smoke);
        var signed = smoke.CombineWithFilePath("payload.txt");
        System.IO.File.WriteAllText(signed.FullPath, $"linux-arm64 smoke {DateTime.UtcNow:O}\n");
        Run(ReleaseTool(), $"keygen --out \"{smoke.Combine("keys")}\"");
        Run(ReleaseTool(), $"sign \"{signed}\" --key \"{smoke.Combine("keys").CombineWithFilePath("release.key")}\"");
        var pub = smoke.Combine("keys").CombineWithFilePath("release.pub");
        var under = $"-L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib \"{arm64}\"";
        Information($"linux-arm64 belay --version under qemu-aarch64: {Capture(qemu, $"{under} --version")}");
        var good = Run(qemu, $"{under} verify \"{signed}\" -P \"{pub}\"", check: false);
        System.IO.File.AppendAllText(signed.FullPath, "tampered\n");
        var bad = Run(qemu, $"{under} verify \"{signed}\" -P \"{pub}\" -q", check: false);
        if (good != 0 || bad != 3) throw new CakeException($"linux-arm64 belay verify under qemu: a good signature exited {good} (want 0), a tampered file {bad} (want 3)");
        Information("linux-arm64 belay verify under qemu-aarch64: good signature exit 0, tampered file exit 3");
    }
});

// Every backend compiles on every OS: the Windows code paths (CA1416 is an error) are built
// for win-x64 here too, so a Windows-only mistake breaks the Linux build.
Task("build-windows")
    .Does(() =>
{
    foreach (var (project, _) in published)
    {
        DotNetBuild(project, new DotNetBuildSettings
        {
            Configuration = configuration,
            Runtime = "win-x64",
            OutputDirectory = artifacts.Combine("build-win-x64"),
            MSBuildSettings = BuildProperties().WithProperty("PublishAot", "false"),
        });
    }
});

// NativeAOT cannot cross-compile to Windows from Linux, so the Wine end-to-end test runs belay.exe
// published self-contained, trimmed (trim warnings are errors) and as one file: Wine loads that
// (about 15 MB); an untrimmed bundle (about 75 MB) fails to load there.
Task("publish-windows")
    .IsDependentOn("keys")
    .Does(() =>
{
    var dir = artifacts.Combine("publish").Combine("win-x64");
    DotNetPublish("bootstrapper/Belay.Bootstrapper.csproj", new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = "win-x64",
        SelfContained = true,
        OutputDirectory = dir,
        MSBuildSettings = BuildProperties().WithProperty("PublishAot", "false").WithProperty("PublishTrimmed", "true")
            .WithProperty("PublishSingleFile", "true").WithProperty("TreatWarningsAsErrors", "true"),
    });
    var file = dir.CombineWithFilePath("belay.exe");
    Information($"belay.exe for win-x64 (trimmed, single file): {new FileInfo(file.FullPath).Length,12:N0} bytes in {dir}");
});

// The win-x64 agent, built like belay.exe above (self-contained, trimmed, one file): what the MSI
// carries and what the Wine end-to-end tests publish into their feeds.
Task("publish-windows-agent")
    .IsDependentOn("keys")
    .Does(() =>
{
    var dir = artifacts.Combine("publish").Combine("win-x64");
    DotNetPublish("agent/Belay.Agent.csproj", new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = "win-x64",
        SelfContained = true,
        OutputDirectory = dir,
        MSBuildSettings = BuildProperties().WithProperty("PublishAot", "false").WithProperty("PublishTrimmed", "true")
            .WithProperty("PublishSingleFile", "true").WithProperty("TreatWarningsAsErrors", "true"),
    });
    var file = dir.CombineWithFilePath("belay-agent.exe");
    Information($"belay-agent.exe for win-x64 (trimmed, single file): {new FileInfo(file.FullPath).Length,12:N0} bytes in {dir}");
});

// The Windows installer: artifacts/installers/belay-<version>-x64.msi from the win-x64 belay.exe and
// belay-agent.exe, by belay-release msi (installers/windows/belay.wxs, wixl -a x64, then msibuild).
Task("msi")
    .IsDependentOn("publish")
    .IsDependentOn("publish-windows")
    .IsDependentOn("publish-windows-agent")
    .Does(() =>
{
    foreach (var tool in new[] { "wixl", "msibuild" })
    {
        if (Run("sh", $"-c \"command -v {tool} >/dev/null\"", check: false) != 0)
            throw new CakeException($"{tool} is not installed: apt-get install wixl msitools");
    }
    var version = string.IsNullOrEmpty(buildVersion) ? ProductVersion(ReleaseTool()) : buildVersion;
    var win = artifacts.Combine("publish").Combine("win-x64");
    var output = artifacts.Combine("installers");
    EnsureDirectoryExists(output);
    Run(ReleaseTool(), $"msi --version {version} --belay \"{win}/belay.exe\" --agent \"{win}/belay-agent.exe\" --out \"{output}\"");
});

Task("test")
    .IsDependentOn("publish")
    .IsDependentOn("publish-arm64")
    .IsDependentOn("build-windows")
    .IsDependentOn("publish-windows")
    .IsDependentOn("msi")
    .Does(() => RunTests("./tests/*/*.Tests.csproj", testFilter));

// Only the linux-arm64 end-to-end tests (tests/Belay.EndToEnd.Tests/Arm64: the demo, install.sh,
// updates and trust refusals on the arm64 build under qemu-user); test runs them too.
Task("test-arm64")
    .IsDependentOn("publish")
    .IsDependentOn("publish-arm64")
    .Does(() =>
{
    var filter = "FullyQualifiedName~Belay.EndToEnd.Tests.Arm64";
    RunTests("./tests/Belay.EndToEnd.Tests/Belay.EndToEnd.Tests.csproj", string.IsNullOrEmpty(testFilter) ? filter : $"({filter})&({testFilter})");
});

// Builds the solution, runs the test projects against the NativeAOT binaries built once by the
// dependencies, and ends with one line "N passed, N failed, N skipped" over all of them.
void RunTests(string projects, string filter)
{
    DotNetBuild("Belay.slnx", new DotNetBuildSettings { Configuration = configuration, MSBuildSettings = BuildProperties() });
    CleanDirectory(testResults);
    var env = new Dictionary<string, string>
    {
        // The end-to-end tests run the NativeAOT binaries that ship, built once above.
        ["BELAY_BIN_DIR"] = publishDir.FullPath,
        ["BELAY_ARM64_BIN_DIR"] = arm64Dir.FullPath,
        ["BELAY_KEYS_DIR"] = keysDir.FullPath,
    };
    var failedProjects = new List<string>();
    foreach (var project in GetFiles(projects).OrderBy(p => p.FullPath))
    {
        var name = project.GetFilenameWithoutExtension().ToString();
        var args = $"test \"{project}\" -c {configuration} --no-build --logger \"trx;LogFileName={name}.trx\" --results-directory \"{testResults}\"";
        if (!string.IsNullOrEmpty(filter)) args += $" --filter \"{filter}\"";
        if (Run("dotnet", args, check: false, env: env) != 0) failedProjects.Add(name);
    }

    int passed = 0, failed = 0, skipped = 0;
    XNamespace ns = "http://microsoft.com/schemas/VisualStudio/TeamTest/2010";
    foreach (var trx in GetFiles($"{testResults}/*.trx"))
    {
        var doc = XDocument.Load(trx.FullPath);
        foreach (var result in doc.Descendants(ns + "UnitTestResult"))
        {
            switch ((string)result.Attribute("outcome"))
            {
                case "Passed": passed++; break;
                case "NotExecuted":
                    skipped++;
                    var reason = result.Descendants(ns + "StdOut").FirstOrDefault()?.Value ?? result.Descendants(ns + "Message").FirstOrDefault()?.Value ?? "";
                    Warning($"SKIPPED {(string)result.Attribute("testName")}: {reason.Trim()}");
                    break;
                default:
                    failed++;
                    Error($"FAILED {(string)result.Attribute("testName")}");
                    break;
            }
        }
    }
    if (passed + failed + skipped == 0) failedProjects.Add("(no test ran)");
    Console.WriteLine($"{passed} passed, {failed} failed, {skipped} skipped");
    if (failed > 0 || failedProjects.Count > 0) throw new CakeException($"tests failed: {string.Join(", ", failedProjects)}");
}

// SIGKILL of the keeper and the agent at random moments of updates, against the NativeAOT
// binaries: the CI run of CrashSoakTests does 20 iterations, this one 500 (--iterations=N,
// --seed=S replays a run). Prints "crash soak: N runs, M failures, seed S".
Task("crash-soak")
    .IsDependentOn("publish")
    .Does(() =>
{
    var report = artifacts.CombineWithFilePath("crash-soak.txt");
    if (FileExists(report)) DeleteFile(report);
    var env = new Dictionary<string, string>
    {
        ["BELAY_BIN_DIR"] = publishDir.FullPath,
        ["BELAY_KEYS_DIR"] = keysDir.FullPath,
        ["BELAY_CRASH_SOAK_ITERATIONS"] = Argument("iterations", "500"),
        ["BELAY_DEPLOY_SOAK_ITERATIONS"] = Argument("deploy-iterations", "100"),
        ["BELAY_CRASH_SOAK_REPORT"] = report.FullPath,
    };
    var seed = Argument("seed", "");
    if (!string.IsNullOrEmpty(seed)) env["BELAY_CRASH_SOAK_SEED"] = seed;
    var code = Run("dotnet", $"test tests/Belay.EndToEnd.Tests -c {configuration} --filter FullyQualifiedName~CrashSoakTests", check: false, env: env);
    Console.WriteLine(FileExists(report) ? System.IO.File.ReadAllText(report.FullPath).TrimEnd() : "crash soak: no report (the test did not get to the end)");
    if (code != 0) throw new CakeException("crash soak failed");
});

Task("default").IsDependentOn("test");

RunTarget(target);
