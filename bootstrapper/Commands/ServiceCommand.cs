using System.CommandLine;
using Belay.Core;
using Belay.Core.Install;
using Belay.Core.Services;

namespace Belay.Bootstrapper.Commands;

/// <summary>`belay service print [--service-manager M]`: exactly what would be installed for the keeper.</summary>
internal static class ServiceCommand
{
    public static Command Create()
    {
        var installation = new Installation();
        var manager = new Option<string>("--service-manager") { Description = "auto, systemd, launchd, smf, windows or none.", DefaultValueFactory = _ => "auto" };
        var print = new Command("print", "Print the service definition (unit, plist or manifest) that install would write, and where.") { manager };
        installation.AddTo(print);
        print.SetAction(result =>
        {
            var scope = Installation.ParseScope(result.GetValue(installation.Scope));
            var layout = InstallLayout.For(scope, result.GetValue(installation.Prefix)?.FullName);
            var name = result.GetRequiredValue(manager);
            if (name == "auto")
            {
                (name, var why) = ServiceManagers.Detect();
                Console.Error.WriteLine($"service manager: {name} ({why})");
            }
            var definition = ServiceDefinition.For(layout, scope);
            try
            {
                if (ServiceManagers.Render(name, definition) is { } file)
                {
                    Console.WriteLine($"# {file.Path}");
                    Console.Write(file.Content);
                }
                else if (name == "windows")
                {
                    Console.WriteLine($"# Windows service Belay: \"{string.Join("\" \"", definition.CommandLine)}\" (registered through the SCM API; not in this build)");
                }
                else
                {
                    Console.WriteLine($"# none: no definition is written; belay install starts the keeper detached: {string.Join(' ', definition.CommandLine)} --detach");
                }
            }
            catch (ArgumentException e)
            {
                throw new BelayException(ExitCodes.Usage, $"cannot render a {name} definition for this installation: {e.Message}", e);
            }
            return ExitCodes.Ok;
        });
        return new Command("service", "The service-manager side of an installation.") { print };
    }
}
