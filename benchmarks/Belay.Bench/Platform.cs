// The bench reads /proc and drives POSIX tools: Linux only, and the analyzers know it.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
