namespace Belay.Core.Programs;

/// <summary>
/// A program cannot be started, and trying again will not help until the operator changes something (an
/// unknown account, a missing right or password): the supervisor marks it fatal at once, with this message
/// as its last exit, instead of backing off until fatal_after.
/// </summary>
public sealed class FatalSpawnException(string message, Exception? inner = null) : InvalidOperationException(message, inner);
