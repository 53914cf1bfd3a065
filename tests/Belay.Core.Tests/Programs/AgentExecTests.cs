using Belay.Core.Install;
using Belay.Core.Programs;

namespace Belay.Core.Tests.Programs;

public sealed class AgentExecTests
{
    [Fact]
    public void The_keeper_gives_its_agent_inline_socket_completions_on_one_engine_thread_on_unix_only()
    {
        var unix = KeeperChannel.AgentEnvironment("/s/keeper.sock", "1.2.3", 42, unix: true).ToDictionary();
        Assert.Equal("/s/keeper.sock", unix[KeeperChannel.SocketVariable]);
        Assert.Equal("1.2.3", unix[KeeperChannel.VersionVariable]);
        Assert.Equal("42", unix[KeeperChannel.KeeperPidVariable]);
        Assert.Equal("1", unix["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"]);
        Assert.Equal("1", unix["DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT"]);

        var windows = KeeperChannel.AgentEnvironment("pipe", "1.2.3", 42, unix: false).ToDictionary();
        Assert.False(windows.ContainsKey("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"));
    }

    [Fact]
    public void Programs_apps_and_hooks_inherit_none_of_what_the_keeper_set_for_the_agent_unless_they_ask_for_it()
    {
        var keeperSet = KeeperChannel.AgentEnvironment("/s/keeper.sock", "1.2.3", 42, unix: true);
        var saved = keeperSet.Select(v => (v.Key, Environment.GetEnvironmentVariable(v.Key))).ToList();
        try
        {
            foreach (var (name, value) in keeperSet)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
            var psi = AgentExec.StartInfo("/opt/belay/versions/1.2.3/belay-agent", ["--dir", "/"], null, null, ["dotnet", "app.dll"], []);
            foreach (var (name, _) in keeperSet)
            {
                Assert.False(psi.Environment.ContainsKey(name), $"{name} leaked into a program's environment");
            }
            // A program that wants inline completions for itself says so in its own environment.
            var own = AgentExec.StartInfo("/opt/belay/versions/1.2.3/belay-agent", ["--dir", "/"], null, null, ["dotnet", "app.dll"],
                [new("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1")]);
            Assert.Equal("1", own.Environment["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"]);
        }
        finally
        {
            foreach (var (name, value) in saved)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
    }
}
