using System.CommandLine;
using System.CommandLine.Completions;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using Belay.Core.Feed;
using Belay.Core.Versioning;

namespace Belay.Core.Cli;

/// <summary>
/// Checks of option values while the command line is parsed, so that a value that does not
/// parse stops the command before it does anything, exits 2 (usage) and names the option as
/// the user typed it: "--wait 'forever' is not a duration ...". Commands then read values
/// that are known to be good.
/// </summary>
public static class CliOptions
{
    /// <summary>A duration like 90s, 45m, 12h, 30d or 2w (more than zero).</summary>
    public static T Duration<T>(this T option)
        where T : Option<string> =>
        option.Check(v => Durations.TryParse(v, out _) ? null : $"'{v}' is not a duration: use a number and a unit, like 90s, 45m, 12h, 30d or 2w");

    /// <summary>A channel name: lower-case letters, digits, '-', '_' and '.', no path.</summary>
    public static T ChannelName<T>(this T option)
        where T : Option<string> =>
        option.Check(v => FeedLayout.IsValidChannel(v) ? null : $"'{v}' is not a channel name: use lower-case letters, digits, '-', '_' and '.', like stable or beta-2");

    /// <summary>A semantic version like 1.4.2 or 2.0.0-rc.1.</summary>
    public static T SemanticVersion<T>(this T option)
        where T : Option =>
        option.Check(VersionProblem);

    /// <summary>A semantic version given as an argument.</summary>
    public static Argument<string> SemanticVersion(this Argument<string> argument)
    {
        ArgumentNullException.ThrowIfNull(argument);
        argument.Validators.Add(result => EachToken(result, VersionProblem));
        return argument;
    }

    /// <summary>A feed's address: a URL Belay reads (that parses) or a folder.</summary>
    public static T FeedAddress<T>(this T option)
        where T : Option =>
        option.Check(v => FeedSource.Problem(v) is { } problem ? ": " + problem : null);

    /// <summary>A runtime identifier like linux-x64.</summary>
    public static T RuntimeIdentifier<T>(this T option)
        where T : Option<string> =>
        option.Check(v => FeedLayout.IsValidRid(v) ? null : $"'{v}' is not a runtime identifier (like linux-x64, linux-musl-arm64, osx-arm64, win-x64, illumos-x64)");

    /// <summary>One of a few words, said in the error when another is given.</summary>
    public static T OneOf<T>(this T option, params string[] allowed)
        where T : Option
    {
        option.Check(v => allowed.Contains(v, StringComparer.Ordinal) ? null : $"'{v}': use {Words(allowed)}");
        option.CompletionSources.Add(_ => allowed.Select(a => new CompletionItem(a)));
        return option;
    }

    /// <summary>A folder that, when it exists, is a folder (not a file).</summary>
    public static T NotAFile<T>(this T option)
        where T : Option =>
        option.Check(v => File.Exists(v) ? $"'{v}' is a file; give a folder"
            // It ends up in service definitions and command lines, where a control character cannot go.
            : v.Any(char.IsControl) ? ": the path has a control character (a line break, a tab, ...); give a plain folder path"
            : null);

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>, parsed here rather than by the runtime's converter.</summary>
    public static Option<int> WholeNumber(string name, string description, int defaultValue, int min, int max, params string[] aliases) =>
        Number(name, description, (int?)defaultValue, min, max, aliases);

    /// <summary>The same, required when <paramref name="defaultValue"/> is null.</summary>
    public static Option<int> WholeNumber(string name, string description, int? defaultValue, int min, int max, params string[] aliases) =>
        Number(name, description, defaultValue, min, max, aliases);

    /// <summary>The same for a 64-bit number.</summary>
    public static Option<long> LargeWholeNumber(string name, string description, long defaultValue, long min, long max) =>
        Number(name, description, (long?)defaultValue, min, max, []);

    private static Option<TNumber> Number<TNumber>(string name, string description, TNumber? defaultValue, TNumber min, TNumber max, string[] aliases)
        where TNumber : struct, IBinaryInteger<TNumber>
    {
        var option = new Option<TNumber>(name, aliases) { Description = description, Required = defaultValue is null };
        if (defaultValue is { } given)
        {
            option.DefaultValueFactory = _ => given;
        }
        option.CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return defaultValue ?? TNumber.Zero;
            }
            var text = result.Tokens[^1].Value;
            if (!TNumber.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                result.AddError($"{Name(result)} '{text}' is not a whole number from {min} to {max}");
                return defaultValue ?? TNumber.Zero;
            }
            return value;
        };
        return option;
    }

    /// <summary>"a, b or c".</summary>
    public static string Words(IReadOnlyList<string> words)
    {
        ArgumentNullException.ThrowIfNull(words);
        return words.Count switch
        {
            0 => "",
            1 => words[0],
            _ => string.Join(", ", words.Take(words.Count - 1)) + " or " + words[^1],
        };
    }

    /// <summary>
    /// Adds a check of every value given to <paramref name="option"/>: <paramref name="problemOf"/> says
    /// what is wrong with one ("'x' is not ...", or ": ..." to follow the name directly), or null when it is good.
    /// </summary>
    private static T Check<T>(this T option, Func<string, string?> problemOf)
        where T : Option
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result => EachToken(result, problemOf));
        return option;
    }

    private static void EachToken(SymbolResult result, Func<string, string?> problemOf)
    {
        foreach (var token in result.Tokens)
        {
            if (problemOf(token.Value) is { } problem)
            {
                result.AddError(Name(result) + (problem.StartsWith(':') ? "" : " ") + problem);
            }
        }
    }

    private static string? VersionProblem(string text) =>
        SemVersion.TryParse(text, out _, out var error) ? null : $"'{text}' is not a version: {error}";

    /// <summary>The option as the user typed it (-n or --lines), else its name.</summary>
    private static string Name(SymbolResult result) => result switch
    {
        OptionResult o => o.IdentifierToken?.Value ?? o.Option.Name,
        ArgumentResult a => a.Parent is OptionResult p ? p.IdentifierToken?.Value ?? p.Option.Name : a.Argument.Name,
        _ => "the value",
    };
}
