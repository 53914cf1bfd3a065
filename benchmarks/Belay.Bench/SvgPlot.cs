using System.Globalization;
using System.Security;
using System.Text;

namespace Belay.Bench;

/// <summary>One line of a plot: its points (x, y), colour and whether it is dashed.</summary>
internal sealed record Series(string Label, IReadOnlyList<(double X, double Y)> Points, string Colour, bool Dashed = false);

/// <summary>
/// A line chart as a standalone SVG: axes with round ticks, a grid, a polyline per series and a
/// legend. Hand-rolled so that the bench needs no plotting library and no native assets.
/// </summary>
internal static class SvgPlot
{
    private const int Width = 900;
    private const int Height = 440;
    private const int Left = 64;
    private const int Right = 220;
    private const int Top = 40;
    private const int Bottom = 50;

    public static string Render(string title, string xLabel, string yLabel, IReadOnlyList<Series> series)
    {
        var ic = CultureInfo.InvariantCulture;
        var all = series.SelectMany(s => s.Points).ToList();
        var xMax = AxisMax(all.Count > 0 ? all.Max(p => p.X) : 1);
        var yMax = AxisMax(all.Count > 0 ? all.Max(p => p.Y) * 1.1 : 1);
        double plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        string X(double x) => (Left + (x / xMax * plotW)).ToString("F1", ic);
        string Y(double y) => (Top + plotH - (y / yMax * plotH)).ToString("F1", ic);

        var b = new StringBuilder();
        b.AppendLine(ic, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{Width}" height="{Height}" viewBox="0 0 {Width} {Height}" font-family="sans-serif" font-size="12">""");
        b.AppendLine("""<rect width="100%" height="100%" fill="white"/>""");
        b.AppendLine(ic, $"""<text x="{Left}" y="24" font-size="15" font-weight="bold">{Esc(title)}</text>""");
        foreach (var t in Ticks(yMax))
        {
            b.AppendLine(ic, $"""<line x1="{Left}" x2="{Left + plotW}" y1="{Y(t)}" y2="{Y(t)}" stroke="#ddd"/>""");
            b.AppendLine(ic, $"""<text x="{Left - 6}" y="{Y(t)}" text-anchor="end" dominant-baseline="middle">{Fmt(t)}</text>""");
        }
        foreach (var t in Ticks(xMax))
        {
            b.AppendLine(ic, $"""<line x1="{X(t)}" x2="{X(t)}" y1="{Top}" y2="{Top + plotH}" stroke="#eee"/>""");
            b.AppendLine(ic, $"""<text x="{X(t)}" y="{Top + plotH + 16}" text-anchor="middle">{Fmt(t)}</text>""");
        }
        b.AppendLine(ic, $"""<rect x="{Left}" y="{Top}" width="{plotW}" height="{plotH}" fill="none" stroke="#444"/>""");
        b.AppendLine(ic, $"""<text x="{Left + (plotW / 2)}" y="{Height - 10}" text-anchor="middle">{Esc(xLabel)}</text>""");
        b.AppendLine(ic, $"""<text transform="translate(16 {Top + (plotH / 2)}) rotate(-90)" text-anchor="middle">{Esc(yLabel)}</text>""");
        var legendY = Top + 10;
        foreach (var s in series)
        {
            var dash = s.Dashed ? " stroke-dasharray=\"6 4\"" : "";
            var points = string.Join(' ', s.Points.Select(p => $"{X(p.X)},{Y(p.Y)}"));
            b.AppendLine(ic, $"""<polyline fill="none" stroke="{s.Colour}" stroke-width="2"{dash} points="{points}"/>""");
            b.AppendLine(ic, $"""<line x1="{Width - Right + 14}" x2="{Width - Right + 44}" y1="{legendY}" y2="{legendY}" stroke="{s.Colour}" stroke-width="2"{dash}/>""");
            b.AppendLine(ic, $"""<text x="{Width - Right + 50}" y="{legendY}" dominant-baseline="middle">{Esc(s.Label)}</text>""");
            legendY += 20;
        }
        b.AppendLine("</svg>");
        return b.ToString();
    }

    /// <summary>
    /// Panels side by side on one y scale (so that their heights compare at a glance), each with
    /// its own title and legend under it.
    /// </summary>
    public static string RenderPanels(string title, string xLabel, string yLabel, IReadOnlyList<(string Title, IReadOnlyList<Series> Series)> panels)
    {
        const int panelW = 520, plotH = 300, top = 60, left = 56, gap = 30, legendLine = 18;
        var ic = CultureInfo.InvariantCulture;
        var all = panels.SelectMany(p => p.Series).SelectMany(s => s.Points).ToList();
        var xMax = AxisMax(all.Count > 0 ? all.Max(p => p.X) : 1);
        var yMax = AxisMax(all.Count > 0 ? all.Max(p => p.Y) * 1.1 : 1);
        var legendRows = panels.Count == 0 ? 0 : panels.Max(p => p.Series.Count);
        var width = left + (panels.Count * (panelW + gap));
        var height = top + plotH + 44 + (legendRows * legendLine) + 10;
        double plotW = panelW - 20;
        var b = new StringBuilder();
        b.AppendLine(ic, $"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">""");
        b.AppendLine("""<rect width="100%" height="100%" fill="white"/>""");
        b.AppendLine(ic, $"""<text x="{left}" y="22" font-size="15" font-weight="bold">{Esc(title)}</text>""");
        b.AppendLine(ic, $"""<text transform="translate(16 {top + (plotH / 2)}) rotate(-90)" text-anchor="middle">{Esc(yLabel)}</text>""");
        for (var i = 0; i < panels.Count; i++)
        {
            var x0 = left + (i * (panelW + gap));
            string X(double x) => (x0 + (x / xMax * plotW)).ToString("F1", ic);
            string Y(double y) => (top + plotH - (y / yMax * plotH)).ToString("F1", ic);
            b.AppendLine(ic, $"""<text x="{x0}" y="{top - 10}" font-size="13" font-weight="bold">{Esc(panels[i].Title)}</text>""");
            foreach (var t in Ticks(yMax))
            {
                b.AppendLine(ic, $"""<line x1="{x0}" x2="{x0 + plotW}" y1="{Y(t)}" y2="{Y(t)}" stroke="#ddd"/>""");
                b.AppendLine(ic, $"""<text x="{x0 - 6}" y="{Y(t)}" text-anchor="end" dominant-baseline="middle">{Fmt(t)}</text>""");
            }
            foreach (var t in Ticks(xMax))
            {
                b.AppendLine(ic, $"""<line x1="{X(t)}" x2="{X(t)}" y1="{top}" y2="{top + plotH}" stroke="#eee"/>""");
                b.AppendLine(ic, $"""<text x="{X(t)}" y="{top + plotH + 16}" text-anchor="middle">{Fmt(t)}</text>""");
            }
            b.AppendLine(ic, $"""<rect x="{x0}" y="{top}" width="{plotW}" height="{plotH}" fill="none" stroke="#444"/>""");
            b.AppendLine(ic, $"""<text x="{x0 + (plotW / 2)}" y="{top + plotH + 34}" text-anchor="middle">{Esc(xLabel)}</text>""");
            var legendY = top + plotH + 52;
            foreach (var s in panels[i].Series)
            {
                var dash = s.Dashed ? " stroke-dasharray=\"6 4\"" : "";
                var points = string.Join(' ', s.Points.Select(p => $"{X(p.X)},{Y(p.Y)}"));
                b.AppendLine(ic, $"""<polyline fill="none" stroke="{s.Colour}" stroke-width="2"{dash} points="{points}"/>""");
                b.AppendLine(ic, $"""<line x1="{x0}" x2="{x0 + 30}" y1="{legendY}" y2="{legendY}" stroke="{s.Colour}" stroke-width="2"{dash}/>""");
                b.AppendLine(ic, $"""<text x="{x0 + 36}" y="{legendY}" dominant-baseline="middle">{Esc(s.Label)}</text>""");
                legendY += legendLine;
            }
        }
        b.AppendLine("</svg>");
        return b.ToString();
    }

    /// <summary>The end of an axis: <paramref name="v"/> rounded up to a whole tick (300 s stays 300, not 500).</summary>
    private static double AxisMax(double v)
    {
        var step = NiceCeiling(v / 6);
        return Math.Max(step, Math.Ceiling(v / step) * step);
    }

    /// <summary>The smallest 1, 2 or 5 × 10^k at or above <paramref name="v"/>.</summary>
    private static double NiceCeiling(double v)
    {
        if (v <= 0)
        {
            return 1;
        }
        var p = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (var m in (double[])[1, 2, 2.5, 5, 10])
        {
            if (m * p >= v)
            {
                return m * p;
            }
        }
        return 10 * p;
    }

    private static IEnumerable<double> Ticks(double max)
    {
        var step = NiceCeiling(max / 6);
        for (var t = 0.0; t <= max + (step / 1000); t += step)
        {
            yield return t;
        }
    }

    private static string Fmt(double v) => v.ToString(v % 1 == 0 ? "F0" : "G3", CultureInfo.InvariantCulture);

    private static string Esc(string s) => SecurityElement.Escape(s) ?? "";
}
