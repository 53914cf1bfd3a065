using System.CommandLine;
using Belay.Bootstrapper.Install;
using Belay.Core;
using Belay.Core.Cli;
using Belay.Core.Install;
using Belay.Core.IO;
using Belay.Core.Services;
using Belay.Core.Services.Windows;

namespace Belay.Bootstrapper.Commands;

/// <summary>
/// `belay service print [--service-manager M]`: exactly what would be installed for the keeper.
/// Standard output is the file itself, byte for byte (`belay service print > belay.xml` is a valid
/// manifest); where it would go, and which manager auto found, go to standard error.
/// </summary>
internal static class ServiceCommand
{
    public static Command Create()
    {
        var installation = new Installation(installs: true);
        installation.Prefix.Description = "The --prefix of the installation (the definition names its paths).";
        var manager = new Option<string>("--service-manager") { Description = "auto, systemd, launchd, smf, windows or none.", DefaultValueFactory = _ => "auto" }
            .OneOf(["auto", .. ServiceManagers.Names]);
        var print = new Command("print", "Print the service definition (unit, plist or manifest) that install would write: the file on stdout, its path on stderr.") { manager };
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
                    Console.Error.WriteLine($"belay: {name} definition for {file.Path}:");
                    Console.Write(file.Content);
                }
                else if (name == "windows")
                {
                    var (actions, nonCrash) = WindowsServiceBackend.Recovery(definition);
                    Console.WriteLine($"# Windows service {WindowsServiceBackend.ServiceName(definition)} (\"{WindowsServiceBackend.DisplayName}\"), registered through the SCM API, no file");
                    Console.WriteLine($"image path:  {WindowsServiceBackend.ImagePath(definition)}");
                    Console.WriteLine("type, start: own process, automatic (delayed)");
                    Console.WriteLine($"account:     {definition.User ?? "LocalSystem"}");
                    Console.WriteLine($"recovery:    {actions}{(nonCrash ? ", also on a non-zero exit" : "")}");
                }
                else
                {
                    Console.WriteLine($"# none: no definition is written; belay install starts the keeper detached: {string.Join(' ', definition.CommandLine)} --detach --log {definition.StdoutLog}");
                }
            }
            catch (ArgumentException e)
            {
                throw new BelayException(ExitCodes.Usage, $"cannot render a {name} definition for this installation: {SystemErrors.OwnText(e)}", e);
            }
            return ExitCodes.Ok;
        });
        var service = new Command("service", "The service-manager side of an installation: print its definition; start, stop, restart or inspect the keeper's service.") { print };
        foreach (var (verb, help) in new[]
        {
            ("start", "Start the keeper's service."),
            ("stop", "Stop the keeper's service (it stops the agent first). It starts again at boot."),
            ("restart", "Restart the keeper's service."),
            ("status", "What the service manager says about the keeper's service."),
        })
        {
            var located = new Installation();
            var command = new Command(verb, help);
            located.AddTo(command);
            command.SetAction(result =>
            {
                var (config, _) = located.Locate(result);
                var layout = config.Layout;
                var definition = ServiceDefinition.For(layout, Installation.ParseScope(config.Scope));
                var backend = ServiceBackends.Create(config.ServiceManager, layout, Console.WriteLine);
                switch (verb)
                {
                    case "start":
                        backend.Start(definition);
                        break;
                    case "stop":
                        backend.Stop(definition);
                        break;
                    case "restart":
                        backend.Restart(definition);
                        break;
                    default:
                        var status = backend.Status(definition);
                        Console.WriteLine($"{backend.Name}: {status.State}");
                        Console.WriteLine(status.Detail);
                        return status.Running ? ExitCodes.Ok : ExitCodes.Error; // not running: 1, so scripts can test it
                }
                var after = backend.Status(definition);
                Console.WriteLine($"{backend.Name}: {after.State}");
                return ExitCodes.Ok;
            });
            service.Subcommands.Add(command);
        }
        return service;
    }
}
