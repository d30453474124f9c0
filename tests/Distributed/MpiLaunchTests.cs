using System.Collections;

namespace Latent.Distributed.Tests;

public class MpiLaunchTests
{
    static Hashtable Env(params (string Name, string Value)[] vars)
    {
        var env = new Hashtable();
        foreach (var (name, value) in vars) env[name] = value;
        return env;
    }

    [Fact]
    public void Detect_WithoutMpiexec_IsNull() => Assert.Null(MpiLaunch.Detect(Env(("PATH", "/usr/bin"))));

    [Fact]
    public void Detect_HydraVariables_GiveRankAndSize() =>
        Assert.Equal((1, 2), MpiLaunch.Detect(Env(("PMI_RANK", "1"), ("PMI_SIZE", "2"), ("PMI_FD", "6"))));

    [Fact]
    public void Detect_OpenMpi_ThrowsNamingMpich()
    {
        var e = Assert.Throws<NotSupportedException>(() => MpiLaunch.Detect(Env(("OMPI_COMM_WORLD_SIZE", "2"))));
        Assert.Contains("mpiexec.mpich", e.Message);
    }

    [Theory]
    [InlineData("2", "2")]
    [InlineData("x", "2")]
    [InlineData("0", "0")]
    public void Detect_BadRankOrSize_ThrowsNamingThem(string rank, string size)
    {
        var e = Assert.Throws<FormatException>(() => MpiLaunch.Detect(Env(("PMI_RANK", rank), ("PMI_SIZE", size))));
        Assert.Contains($"PMI_RANK '{rank}' and PMI_SIZE '{size}'", e.Message);
    }

    [Fact]
    public void Detect_WithoutMpiexec_DoesNotLoadMpi()
    {
        MpiLaunch.Detect(Env());
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == "MPI");
    }
}
