using Belay.Agent.Supervision;
using Belay.Core.Deploy;
using Belay.Core.Programs;

namespace Belay.Agent.Deploy;

/// <summary>Deployed apps run under the programs' supervisor, each as its unit "@APP" (<see cref="AppPaths.Unit"/>).</summary>
internal sealed class SupervisedApps(Supervisor supervisor) : IAppProcess
{
    public Task ApplyAsync(ProgramDefinition definition, bool run) => supervisor.ApplyAppAsync(definition, run);

    public Task RemoveAsync(string app) => supervisor.RemoveAppAsync(AppPaths.Unit(app));

    public Task<AppProcessInfo?> StatusAsync(string app) => supervisor.AppStatusAsync(AppPaths.Unit(app));
}
