using Belay.Core.Encryption;

namespace Belay.Core.Deploy;

/// <summary>
/// <see cref="ISecretResolver"/> over the host's group identity (config/group-identity, owner-only),
/// read when a secret first needs it and again whenever the file changes (a new identity through
/// a reinstall takes effect without restarting the agent).
/// </summary>
public sealed class GroupSecrets(string identityFile) : ISecretResolver
{
    private readonly Lock _lock = new();
    private IReadOnlyList<AgeIdentity>? _identities;
    private DateTime _stamp;

    public IReadOnlyDictionary<string, string> Resolve(string app, AppSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var desired = new DesiredApp();
        foreach (var e in settings.Env)
        {
            desired.Env[e.Name] = e.IsSecret ? EnvValue.Secret(e.Age!) : EnvValue.Plain(e.Value ?? "");
        }
        return AppSecrets.ResolveEnvironment(app, desired, settings.Env.Any(e => e.IsSecret) ? Identities() : null);
    }

    private IReadOnlyList<AgeIdentity>? Identities()
    {
        lock (_lock)
        {
            var stamp = File.Exists(identityFile) ? File.GetLastWriteTimeUtc(identityFile) : default;
            if (_identities is null || stamp != _stamp)
            {
                _identities = AppSecrets.LoadIdentity(identityFile);
                _stamp = stamp;
            }
            return _identities;
        }
    }
}
