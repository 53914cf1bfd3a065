using System.CommandLine;
using System.CommandLine.Completions;
using System.CommandLine.Parsing;
using System.Globalization;
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
        where T : Option<string>
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result => Check(result, v => Durations.TryParse(v, out _), "is not a duration: use a number and a unit, like 90s, 45m, 12h, 30d or 2w"));
        return option;
    }

    /// <summary>A channel name: lower-case letters, digits, '-', '_' and '.', no path.</summary>
    public static T ChannelName<T>(this T option)
        where T : Option<string>
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result => Check(result, FeedLayout.IsValidChannel, "is not a channel name: use lower-case letters, digits, '-', '_' and '.', like stable or beta-2"));
        return option;
    }

    /// <summary>A semantic version like 1.4.2 or 2.0.0-rc.1.</summary>
    public static T SemanticVersion<T>(this T option)
        where T : Option
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
            {
                if (!SemVersion.TryParse(token.Value, out _, out var error))
                {
                    result.AddError($"{Name(result)} '{token.Value}' is not a version: {error}");
                }
            }
        });
        return option;
    }

    /// <summary>A feed's address: a URL Belay reads (that parses) or a folder.</summary>
    public static T FeedAddress<T>(this T option)
        where T : Option
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
            {
                if (FeedSource.Problem(token.Value) is { } problem)
                {
                    result.AddError($"{Name(result)}: {problem}");
                }
            }
        });
        return option;
    }

    /// <summary>A semantic version given as an argument.</summary>
    public static Argument<string> SemanticVersion(this Argument<string> argument)
    {
        ArgumentNullException.ThrowIfNull(argument);
        argument.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
            {
                if (!SemVersion.TryParse(token.Value, out _, out var error))
                {
                    result.AddError($"{argument.Name} '{token.Value}' is not a version: {error}");
                }
            }
        });
        return argument;
    }

    /// <summary>A runtime identifier like linux-x64.</summary>
    public static T RuntimeIdentifier<T>(this T option)
        where T : Option<string>
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result => Check(result, FeedLayout.IsValidRid, "is not a runtime identifier (like linux-x64, linux-musl-arm64, osx-arm64, win-x64, illumos-x64)"));
        return option;
    }

    /// <summary>One of a few words, said in the error when another is given.</summary>
    public static T OneOf<T>(this T option, params string[] allowed)
        where T : Option
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
            {
                if (!allowed.Contains(token.Value, StringComparer.Ordinal))
                {
                    result.AddError($"{Name(result)} '{token.Value}': use {Words(allowed)}");
                }
            }
        });
        option.CompletionSources.Add(_ => allowed.Select(a => new CompletionItem(a)));
        return option;
    }

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>, parsed here rather than by the runtime's converter.</summary>
    public static Option<int> WholeNumber(string name, string description, int defaultValue, int min, int max, params string[] aliases) =>
        WholeNumber(name, description, (int?)defaultValue, min, max, aliases);

    /// <summary>The same, required when <paramref name="defaultValue"/> is null.</summary>
    public static Option<int> WholeNumber(string name, string description, int? defaultValue, int min, int max, params string[] aliases)
    {
        var option = new Option<int>(name, aliases) { Description = description, Required = defaultValue is null };
        if (defaultValue is { } given)
        {
            option.DefaultValueFactory = _ => given;
        }
        option.CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return defaultValue ?? 0;
            }
            var text = result.Tokens[^1].Value;
            if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                result.AddError($"{Name(result)} '{text}' is not a whole number from {min} to {max}");
                return defaultValue ?? 0;
            }
            return value;
        };
        return option;
    }

    /// <summary>The same for a 64-bit number.</summary>
    public static Option<long> LargeWholeNumber(string name, string description, long defaultValue, long min, long max)
    {
        var option = new Option<long>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.CustomParser = result =>
        {
            if (result.Tokens.Count == 0)
            {
                return defaultValue;
            }
            var text = result.Tokens[^1].Value;
            if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            {
                result.AddError($"{Name(result)} '{text}' is not a whole number from {min} to {max}");
                return defaultValue;
            }
            return value;
        };
        return option;
    }

    /// <summary>A folder that, when it exists, is a folder (not a file).</summary>
    public static T NotAFile<T>(this T option)
        where T : Option
    {
        ArgumentNullException.ThrowIfNull(option);
        option.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
            {
                if (File.Exists(token.Value))
                {
                    result.AddError($"{Name(result)} '{token.Value}' is a file; give a folder");
                }
                else if (token.Value.Any(char.IsControl))
                {
                    // It ends up in service definitions and command lines, where a control character cannot go.
                    result.AddError($"{Name(result)}: the path has a control character (a line break, a tab, ...); give a plain folder path");
                }
            }
        });
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

    private static void Check(OptionResult result, Func<string, bool> ok, string problem)
    {
        foreach (var token in result.Tokens)
        {
            if (!ok(token.Value))
            {
                result.AddError($"{Name(result)} '{token.Value}' {problem}");
            }
        }
    }

    /// <summary>The option as the user typed it (-n or --lines), else its name.</summary>
    private static string Name(SymbolResult result) => result switch
    {
        OptionResult o => o.IdentifierToken?.Value ?? o.Option.Name,
        ArgumentResult a => a.Parent is OptionResult p ? p.IdentifierToken?.Value ?? p.Option.Name : a.Argument.Name,
        _ => "the value",
    };
}
