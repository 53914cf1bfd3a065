using System.Globalization;

namespace Belay.Bench;

/// <summary>Medians, percentiles and the number formats the report uses (invariant culture).</summary>
internal static class Stats
{
    public static double Median(IEnumerable<double> values) => Percentile(values, 50);

    /// <summary>Nearest-rank percentile; NaN for no values.</summary>
    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static string F(double value, int decimals = 1) =>
        double.IsNaN(value) ? "n/a" : value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    public static string N(double value) => double.IsNaN(value) ? "n/a" : value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Bytes in MB (10^6), the unit budgets are stated in.</summary>
    public static string Mb(double bytes, int decimals = 2) => F(bytes / 1e6, decimals) + " MB";

    /// <summary>A byte rate in the largest readable unit, decimal (k = 1000).</summary>
    public static string Rate(double bytesPerSecond)
    {
        string[] units = ["B/s", "kB/s", "MB/s", "GB/s", "TB/s"];
        var i = 0;
        while (bytesPerSecond >= 1000 && i < units.Length - 1)
        {
            bytesPerSecond /= 1000;
            i++;
        }
        return F(bytesPerSecond, bytesPerSecond < 10 ? 2 : 1) + " " + units[i];
    }

    public static string Bytes(double bytes)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB", "PB"];
        var i = 0;
        while (bytes >= 1000 && i < units.Length - 1)
        {
            bytes /= 1000;
            i++;
        }
        return F(bytes, bytes < 10 ? 2 : 1) + " " + units[i];
    }

    public static string Verdict(bool pass) => pass ? "PASS" : "MISS";
}
