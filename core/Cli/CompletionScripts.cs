using System.CommandLine;
using System.CommandLine.Completions;
using System.Text;

namespace Belay.Core.Cli;

/// <summary>
/// `PROGRAM completion bash|zsh|fish|pwsh`: a shell completion script rendered from the command
/// tree itself (commands, their options, the values of options that take one of a few words),
/// so it is never out of date with the binary that prints it. Static: completing never runs the
/// program. Where an option takes a path or free text, the shell's own file completion applies.
/// Pure: the scripts are rendered from values, nothing is written.
/// </summary>
public static class CompletionScripts
{
    public static readonly IReadOnlyList<string> Shells = ["bash", "zsh", "fish", "pwsh"];

    /// <summary>The `completion` command for <paramref name="root"/>.</summary>
    public static Command Command(RootCommand root, string program)
    {
        ArgumentNullException.ThrowIfNull(root);
        var shell = new Argument<string>("SHELL") { Description = $"The shell: {CliOptions.Words(Shells)}." };
        shell.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
            {
                if (!Shells.Contains(token.Value, StringComparer.Ordinal))
                {
                    result.AddError($"'{token.Value}' is not a shell {program} completes for: use {CliOptions.Words(Shells)}");
                }
            }
        });
        shell.CompletionSources.Add(_ => Shells.Select(s => new CompletionItem(s)));
        var command = new Command("completion", $"Print a completion script for your shell; bash: {program} completion bash > /etc/bash_completion.d/{program} (or source <({program} completion bash) in ~/.bashrc).") { shell };
        command.SetAction(result =>
        {
            Console.Write(Render(root, program, result.GetRequiredValue(shell)));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static string Render(RootCommand root, string program, string shell) => shell switch
    {
        "bash" => Bash(Tree(root), program),
        "zsh" => $"#compdef {program}\n# zsh completion for {program}: the bash completion through zsh's bashcompinit.\nautoload -U +X bashcompinit && bashcompinit\n" + Bash(Tree(root), program),
        "fish" => Fish(Tree(root), program),
        "pwsh" => Pwsh(Tree(root), program),
        _ => throw new BelayException(ExitCodes.Usage, $"'{shell}' is not a shell: use {CliOptions.Words(Shells)}"),
    };

    /// <summary>One command of the tree: its path ("" for the root, "service print"), words to offer, and options that take a value.</summary>
    private sealed record Node(string Path, string Description, IReadOnlyList<(string Name, string Description)> Subcommands,
        IReadOnlyList<(IReadOnlyList<string> Names, string Description, bool TakesValue, IReadOnlyList<string> Values)> Options,
        IReadOnlyList<string> ArgumentValues);

    private static List<Node> Tree(RootCommand root)
    {
        var nodes = new List<Node>();
        void Walk(Command command, string path)
        {
            var options = command.Options.Where(o => !o.Hidden)
                .Select(o => ((IReadOnlyList<string>)[o.Name, .. o.Aliases.Order(StringComparer.Ordinal)], o.Description ?? "",
                    o.ValueType != typeof(bool),
                    (IReadOnlyList<string>)(o.ValueType == typeof(bool) ? [] : [.. o.GetCompletions(CompletionContext.Empty).Select(c => c.Label)])))
                .ToList();
            var subcommands = command.Subcommands.Where(c => !c.Hidden).ToList();
            var argumentValues = command.Arguments.Where(a => !a.Hidden && a.ValueType != typeof(bool))
                .SelectMany(a => a.GetCompletions(CompletionContext.Empty).Select(c => c.Label)).ToList();
            nodes.Add(new Node(path, command.Description ?? "", [.. subcommands.Select(c => (c.Name, c.Description ?? ""))], options, argumentValues));
            foreach (var sub in subcommands)
            {
                Walk(sub, path.Length == 0 ? sub.Name : $"{path} {sub.Name}");
            }
        }
        Walk(root, "");
        return nodes;
    }

    private static string Function(string program) => "_" + program.Replace('-', '_') + "_complete";

    private static string Bash(List<Node> nodes, string program)
    {
        var f = Function(program);
        var text = new StringBuilder();
        text.Append($"# bash completion for {program}, printed by `{program} completion bash`.\n");
        text.Append($"{f}() {{\n");
        // Not "path": in zsh (through bashcompinit) that name is the array tied to PATH.
        text.Append("    local cur prev cmd i word\n");
        text.Append("    cur=${COMP_WORDS[COMP_CWORD]}\n");
        text.Append("    prev=${COMP_WORDS[COMP_CWORD-1]}\n");
        text.Append("    cmd=\n");
        text.Append("    for ((i = 1; i < COMP_CWORD; i++)); do\n");
        text.Append("        word=${COMP_WORDS[i]}\n");
        text.Append("        case \"$cmd|$word\" in\n");
        foreach (var node in nodes.Where(n => n.Subcommands.Count > 0))
        {
            // "PATH|SUB" for every SUB of PATH: a word that is a subcommand of the path so far extends it.
            text.Append($"            {string.Join("|", node.Subcommands.Select(s => Quote(node.Path + "|" + s.Name)))}) cmd=${{cmd:+$cmd }}$word ;;\n");
        }
        text.Append("        esac\n");
        text.Append("    done\n");
        text.Append("    case \"$cmd|$prev\" in\n");
        foreach (var node in nodes)
        {
            foreach (var option in node.Options.Where(o => o.TakesValue))
            {
                var labels = string.Join("|", option.Names.Select(n => Quote(node.Path + "|" + n)));
                text.Append(option.Values.Count > 0
                    ? $"        {labels}) COMPREPLY=($(compgen -W \"{string.Join(' ', option.Values)}\" -- \"$cur\")); return ;;\n"
                    : $"        {labels}) COMPREPLY=(); return ;;\n");
            }
        }
        text.Append("    esac\n");
        text.Append("    case \"$cmd\" in\n");
        foreach (var node in nodes)
        {
            var words = node.Subcommands.Select(s => s.Name).Concat(node.ArgumentValues).Concat(node.Options.SelectMany(o => o.Names));
            text.Append($"        {Quote(node.Path)}) COMPREPLY=($(compgen -W \"{string.Join(' ', words)}\" -- \"$cur\")) ;;\n");
        }
        text.Append("    esac\n");
        text.Append("}\n");
        text.Append($"complete -o default -F {f} {program}\n");
        return text.ToString();
    }

    private static string Fish(List<Node> nodes, string program)
    {
        var text = new StringBuilder();
        text.Append($"# fish completion for {program}, printed by `{program} completion fish`.\n");
        text.Append($"complete -c {program} -f\n");
        foreach (var node in nodes)
        {
            // The words typed so far name this node exactly: each part seen, and none of its subcommands yet.
            var parts = node.Path.Length == 0 ? [] : node.Path.Split(' ');
            var condition = parts.Length == 0
                ? "__fish_use_subcommand"
                : string.Join("; and ", parts.Select(p => $"__fish_seen_subcommand_from {p}"))
                  + (node.Subcommands.Count > 0 ? $"; and not __fish_seen_subcommand_from {string.Join(' ', node.Subcommands.Select(s => s.Name))}" : "");
            foreach (var sub in node.Subcommands)
            {
                text.Append($"complete -c {program} -n '{condition}' -a {sub.Name} -d {FishQuote(sub.Description)}\n");
            }
            if (node.ArgumentValues.Count > 0)
            {
                text.Append($"complete -c {program} -n '{condition}' -a {FishQuote(string.Join(' ', node.ArgumentValues))}\n");
            }
            foreach (var option in node.Options)
            {
                var names = string.Concat(option.Names.Select(n => n.StartsWith("--", StringComparison.Ordinal) ? $" -l {n[2..]}" : n.Length == 2 ? $" -s {n[1..]}" : $" -o {n[1..]}"));
                var value = !option.TakesValue ? "" : option.Values.Count > 0 ? $" -x -a {FishQuote(string.Join(' ', option.Values))}" : " -r -F";
                text.Append($"complete -c {program} -n '{condition}'{names}{value} -d {FishQuote(option.Description)}\n");
            }
        }
        return text.ToString();
    }

    private static string Pwsh(List<Node> nodes, string program)
    {
        var text = new StringBuilder();
        text.Append($"# PowerShell completion for {program}, printed by `{program} completion pwsh`; load it with: {program} completion pwsh | Out-String | Invoke-Expression\n");
        var wordTable = "$global:" + program.Replace('-', '_') + "_completion";
        var valueTable = "$global:" + program.Replace('-', '_') + "_completion_values";
        text.Append($"{wordTable} = @{{\n");
        foreach (var node in nodes)
        {
            var words = node.Subcommands.Select(s => s.Name).Concat(node.ArgumentValues).Concat(node.Options.SelectMany(o => o.Names));
            text.Append($"    '{node.Path}' = @({string.Join(", ", words.Select(w => $"'{w}'"))})\n");
        }
        text.Append("}\n");
        text.Append($"{valueTable} = @{{\n");
        foreach (var node in nodes)
        {
            foreach (var option in node.Options.Where(o => o.TakesValue && o.Values.Count > 0))
            {
                foreach (var name in option.Names)
                {
                    text.Append($"    '{node.Path}|{name}' = @({string.Join(", ", option.Values.Select(v => $"'{v}'"))})\n");
                }
            }
        }
        text.Append("}\n");
        text.Append($$"""
            Register-ArgumentCompleter -Native -CommandName '{{program}}', '{{program}}.exe' -ScriptBlock {
                param($wordToComplete, $commandAst, $cursorPosition)
                $words = @($commandAst.CommandElements | Where-Object { $_.Extent.EndOffset -le $cursorPosition } | ForEach-Object { $_.Extent.Text })
                if ($wordToComplete -ne '' -and $words.Count -gt 0) { $words = $words[0..($words.Count - 2)] }
                $path = ''
                for ($i = 1; $i -lt $words.Count; $i++) {
                    $next = if ($path -eq '') { $words[$i] } else { "$path $($words[$i])" }
                    if ({{wordTable}}.ContainsKey($next)) { $path = $next }
                }
                $prev = if ($words.Count -gt 1) { $words[-1] } else { '' }
                $candidates = if ({{valueTable}}.ContainsKey("$path|$prev")) { {{valueTable}}["$path|$prev"] } else { {{wordTable}}[$path] }
                $candidates | Where-Object { $_ -like "$wordToComplete*" } | ForEach-Object {
                    [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
                }
            }

            """);
        return text.ToString();
    }

    private static string Quote(string word) => "\"" + word.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string FishQuote(string text) => "'" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
