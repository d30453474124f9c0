namespace Latent.Schedulers;

/// <summary>
/// The numpy functions diffusers builds its timestep lists with, reproduced to the last bit: <c>np.linspace</c>,
/// <c>np.arange</c> with a float step, <c>np.round</c> (round half to even), <c>np.interp</c>, and the three
/// <see cref="TimestepSpacing"/> rules of DDPM/DDIM/PNDM/Euler (<c>set_timesteps</c> in diffusers 0.21).
/// </summary>
internal static class NumpySpacing
{
    /// <summary><c>np.linspace(start, stop, num)</c>: start + i * ((stop - start) / (num - 1)), the last value exactly stop.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        var y = new double[num];
        if (num == 0) return y;
        if (num == 1) { y[0] = start; return y; }
        double delta = stop - start, step = delta / (num - 1);
        for (int i = 0; i < num; i++)
            y[i] = step == 0 ? i / (double)(num - 1) * delta + start : i * step + start;
        y[^1] = stop;
        return y;
    }

    /// <summary>
    /// <c>np.arange(start, stop, step)</c> for doubles: length ceil((stop - start) / step); value 1 is start + step and
    /// value i &gt;= 2 is start + i * ((start + step) - start), as numpy's fill does.
    /// </summary>
    public static double[] Arange(double start, double stop, double step)
    {
        double len = Math.Ceiling((stop - start) / step);
        int n = len > 0 ? checked((int)len) : 0;
        var y = new double[n];
        if (n > 0) y[0] = start;
        if (n > 1) y[1] = start + step;
        double delta = (start + step) - start;
        for (int i = 2; i < n; i++) y[i] = start + i * delta;
        return y;
    }

    /// <summary><c>np.round</c>: to the nearest integer, halves to even.</summary>
    public static double Round(double x) => Math.Round(x, MidpointRounding.ToEven);

    /// <summary>
    /// <c>np.interp(x, arange(len(fp)), fp)</c> with float32 <paramref name="fp"/> promoted to double: fp[j] at the nodes,
    /// slope * (x - j) + fp[j] between them, the end values outside.
    /// </summary>
    public static double Interp(double x, float[] fp)
    {
        int last = fp.Length - 1;
        if (double.IsNaN(x)) return x;
        if (x <= 0) return fp[0];
        if (x >= last) return fp[last];
        int j = (int)Math.Floor(x);
        if (j == x) return fp[j];
        double slope = (double)fp[j + 1] - fp[j]; // (fp[j+1] - fp[j]) / (xp[j+1] - xp[j]), xp[j+1] - xp[j] = 1
        return slope * (x - j) + fp[j];
    }

    /// <summary>
    /// The inference timesteps of DDPM/DDIM/PNDM (int64) and Euler (float64) for <paramref name="spacing"/>, diffusers 0.21:
    /// linspace: round(linspace(0, T-1, n)) reversed; leading: arange(n) * (T // n) reversed, + steps_offset;
    /// trailing: round(arange(T, 0, -T/n)) - 1.
    /// </summary>
    /// <param name="spacing">The rule.</param>
    /// <param name="T">Training steps.</param>
    /// <param name="n">Inference steps.</param>
    /// <param name="stepsOffset">Added to "leading" timesteps.</param>
    /// <param name="roundLinspace">False for Euler, whose "linspace" timesteps stay fractional.</param>
    public static double[] Timesteps(TimestepSpacing spacing, int T, int n, int stepsOffset, bool roundLinspace)
    {
        switch (spacing)
        {
            case TimestepSpacing.Linspace:
            {
                double[] t = Linspace(0, T - 1, n);
                if (roundLinspace) t = t.Select(Round).ToArray();
                Array.Reverse(t);
                return t;
            }
            case TimestepSpacing.Leading:
            {
                int ratio = T / n;
                var t = new double[n];
                for (int i = 0; i < n; i++) t[i] = (double)(n - 1 - i) * ratio + stepsOffset;
                return t;
            }
            case TimestepSpacing.Trailing:
            {
                double ratio = T / (double)n;
                return Arange(T, 0, -ratio).Select(v => Round(v) - 1).ToArray();
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(spacing), spacing, "expected linspace, leading or trailing.");
        }
    }
}
