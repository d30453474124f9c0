using Latent.Core.Config;
using Latent.Schedulers;

namespace Latent.Schedulers.Tests;

public class SchedulerConfigTests
{
    static string ParityConfig => Path.Combine(TestEnvironment.Parity, "scheduler", "scheduler_config.json");

    [Fact]
    public void ParityConfig_LoadsAsSdDdim()
    {
        ConfigRead<SchedulerConfig> read = NoiseSchedulers.Load(ParityConfig);
        SchedulerConfig c = read.Config;
        Assert.Empty(read.UnknownKeys);
        Assert.Equal(SchedulerConfig.DdimClassName, c.ClassName);
        Assert.Equal(BetaSchedule.ScaledLinear, c.BetaSchedule);
        Assert.Equal(0.00085, c.BetaStart);
        Assert.Equal(0.012, c.BetaEnd);
        Assert.Equal(1, c.StepsOffset);
        Assert.False(c.SetAlphaToOne);
        Assert.False(c.ClipSample);
        Assert.Equal(TimestepSpacing.Leading, c.TimestepSpacing);
        Assert.Null(c.TrainedBetas);
    }

    [Fact]
    public void ParityConfig_GivesSdDdimTimesteps()
    {
        var s = Assert.IsType<DdimScheduler>(NoiseSchedulers.Create(NoiseSchedulers.Load(ParityConfig).Config));
        s.SetTimesteps(50);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => 981.0 - 20 * i), s.Timesteps);
        Assert.Equal(0.99915f, s.FinalAlphaCumprod);   // set_alpha_to_one false: alpha_bar_0
    }

    [Fact]
    public void ParityConfig_RoundTripsByteForByte()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "scheduler_config.json");
        ConfigFile.Write(path, NoiseSchedulers.Load(ParityConfig).Config);
        Assert.Equal(File.ReadAllText(ParityConfig), File.ReadAllText(path));
    }

    /// <summary>The scheduler_config.json of the Stable Diffusion 1.x folders on the Hub (written by diffusers 0.6).</summary>
    const string Sd15Config = """
        {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012, "beta_schedule": "scaled_linear",
         "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false, "skip_prk_steps": true,
         "steps_offset": 1, "trained_betas": null, "clip_sample": false}
        """;

    [Fact]
    public void UnknownKeys_AreKeptAndWrittenBack()
    {
        string json = Sd15Config.Replace("\"clip_sample\": false", "\"timestep_type\": \"discrete\"");
        ConfigRead<SchedulerConfig> read = ConfigFile.ReadText<SchedulerConfig>(json, "pndm.json");
        Assert.Equal(["timestep_type"], read.UnknownKeys);
        Assert.Contains("\"timestep_type\": \"discrete\"", ConfigFile.ToJsonText(read.Config));
    }

    [Fact]
    public void Sd15Config_GivesPlmsWithSdsTimesteps()
    {
        SchedulerConfig c = ConfigFile.ReadText<SchedulerConfig>(Sd15Config, "scheduler_config.json").Config;
        var s = Assert.IsType<PndmScheduler>(NoiseSchedulers.Create(c));
        Assert.True(s.SkipPrkSteps);
        s.SetTimesteps(50);
        Assert.Equal([981.0, 961, 961, 941], s.Timesteps.Take(4));
        Assert.Equal(51, s.Timesteps.Count);
    }

    [Fact]
    public void ForClass_WritesDiffusersKeysOfEachClass()
    {
        string ddpm = ConfigFile.ToJsonText(SchedulerConfig.ForClass(SchedulerConfig.DdpmClassName));
        Assert.Contains("\"variance_type\": \"fixed_small\"", ddpm);
        Assert.DoesNotContain("set_alpha_to_one", ddpm);
        string euler = ConfigFile.ToJsonText(SchedulerConfig.ForClass(SchedulerConfig.EulerAncestralClassName));
        Assert.Contains("\"timestep_spacing\": \"linspace\"", euler);
        Assert.DoesNotContain("clip_sample", euler);
        Assert.Contains("\"trained_betas\": null", euler);
        string pndm = ConfigFile.ToJsonText(SchedulerConfig.ForClass(SchedulerConfig.PndmClassName));
        Assert.Contains("\"skip_prk_steps\": false", pndm);
        Assert.Contains("\"set_alpha_to_one\": false", pndm);
        Assert.Contains("\"timestep_spacing\": \"leading\"", pndm);
        Assert.DoesNotContain("clip_sample", pndm);
        string plainEuler = ConfigFile.ToJsonText(SchedulerConfig.ForClass(SchedulerConfig.EulerClassName));
        Assert.Contains("\"interpolation_type\": \"linear\"", plainEuler);
        Assert.Contains("\"use_karras_sigmas\": false", plainEuler);
        Assert.DoesNotContain("interpolation_type", euler);
        string dpm = ConfigFile.ToJsonText(SchedulerConfig.ForClass(SchedulerConfig.DpmSolverMultistepClassName));
        Assert.Contains("\"algorithm_type\": \"dpmsolver++\"", dpm);
        Assert.Contains("\"lambda_min_clipped\": -Infinity", dpm);
        Assert.Contains("\"solver_order\": 2", dpm);
    }

    [Fact]
    public void DpmConfig_RoundTrips()
    {
        SchedulerConfig c = SchedulerConfig.ForClass(SchedulerConfig.DpmSolverMultistepClassName) with { UseKarrasSigmas = true };
        SchedulerConfig back = ConfigFile.ReadText<SchedulerConfig>(ConfigFile.ToJsonText(c), "dpm.json").Config;
        Assert.Equal(ConfigFile.ToJsonText(c), ConfigFile.ToJsonText(back));
        Assert.True(back.UseKarrasSigmas);
        Assert.Equal(double.NegativeInfinity, back.LambdaMinClipped);
    }

    [Fact]
    public void ForClass_ThrowsForUnknownClass()
    {
        var e = Assert.Throws<ArgumentException>(() => SchedulerConfig.ForClass("LMSDiscreteScheduler"));
        Assert.Contains("LMSDiscreteScheduler", e.Message);
        Assert.Contains("DDIMScheduler", e.Message);
    }

    [Fact]
    public void ConvertTo_KeepsSharedKeysAndDropsForeignOnes()
    {
        SchedulerConfig sd = NoiseSchedulers.Load(ParityConfig).Config;
        SchedulerConfig dpm = sd.ConvertTo(SchedulerConfig.DpmSolverMultistepClassName);
        Assert.Equal(SchedulerConfig.DpmSolverMultistepClassName, dpm.ClassName);
        Assert.Equal(BetaSchedule.ScaledLinear, dpm.BetaSchedule);
        Assert.Equal(TimestepSpacing.Leading, dpm.TimestepSpacing);   // from_config passes the DDIM file's spacing on
        Assert.Equal(1, dpm.StepsOffset);
        Assert.Null(dpm.SetAlphaToOne);
        Assert.Null(dpm.ClipSample);
        Assert.Equal(2, dpm.SolverOrder);
        SchedulerConfig euler = sd.ConvertTo(SchedulerConfig.EulerAncestralClassName);
        Assert.Null(euler.Thresholding);
        Assert.Null(euler.RescaleBetasZeroSnr);
    }

    [Fact]
    public void Create_BuildsTheClassNamedInTheConfig()
    {
        Assert.IsType<DdpmScheduler>(NoiseSchedulers.Create(SchedulerConfig.ForClass(SchedulerConfig.DdpmClassName)));
        Assert.IsType<EulerAncestralDiscreteScheduler>(NoiseSchedulers.Create(SchedulerConfig.ForClass(SchedulerConfig.EulerAncestralClassName)));
        Assert.IsType<EulerDiscreteScheduler>(NoiseSchedulers.Create(SchedulerConfig.ForClass(SchedulerConfig.EulerClassName)));
        Assert.False(Assert.IsType<PndmScheduler>(NoiseSchedulers.Create(SchedulerConfig.ForClass(SchedulerConfig.PndmClassName))).SkipPrkSteps);
        Assert.IsType<DpmSolverMultistepScheduler>(NoiseSchedulers.Create(SchedulerConfig.ForClass(SchedulerConfig.DpmSolverMultistepClassName)));
        var ddim = Assert.IsType<DdimScheduler>(NoiseSchedulers.Create(SchedulerConfig.ForClass(SchedulerConfig.DdimClassName), eta: 0.5));
        Assert.Equal(0.5, ddim.Eta);
    }

    [Fact]
    public void Create_ThrowsForUnsupportedClass()
    {
        var e = Assert.Throws<NotSupportedException>(() => NoiseSchedulers.Create(new SchedulerConfig { ClassName = "LMSDiscreteScheduler" }));
        Assert.Contains("LMSDiscreteScheduler", e.Message);
    }

    [Theory]
    [InlineData("ddpm", SchedulerKind.Ddpm)]
    [InlineData("ddim", SchedulerKind.Ddim)]
    [InlineData("pndm", SchedulerKind.Pndm)]
    [InlineData("euler", SchedulerKind.Euler)]
    [InlineData("Euler-Karras", SchedulerKind.EulerKarras)]
    [InlineData("euler-a", SchedulerKind.EulerAncestral)]
    [InlineData("dpm++2m", SchedulerKind.DpmPlusPlus2M)]
    [InlineData("DPM++2M-Karras", SchedulerKind.DpmPlusPlus2MKarras)]
    public void SchedulerKind_ParsesCliNames(string name, SchedulerKind kind)
    {
        Assert.Equal(kind, SchedulerKinds.Parse(name));
        Assert.Equal(name.ToLowerInvariant(), kind.CliName());
    }

    [Fact]
    public void SchedulerKind_ThrowsForUnknownName()
    {
        var e = Assert.Throws<ArgumentException>(() => SchedulerKinds.Parse("plms"));
        Assert.Contains("plms", e.Message);
        Assert.Contains("dpm++2m-karras", e.Message);
    }

    [Fact]
    public void SchedulerKind_Karras_SetsKarrasSigmasOnTheModelSchedule()
    {
        SchedulerConfig sd = NoiseSchedulers.Load(ParityConfig).Config;
        var s = Assert.IsType<DpmSolverMultistepScheduler>(NoiseSchedulers.Create(SchedulerKind.DpmPlusPlus2MKarras, sd));
        Assert.True(s.Config.UseKarrasSigmas);
        Assert.Equal(0.99915f, s.Schedule.AlphasCumprod[0]);
        Assert.False(SchedulerKind.DpmPlusPlus2M.ConfigFor(sd).UseKarrasSigmas);
    }

    [Fact]
    public void SchedulerKind_Pndm_IsPlmsOnTheModelSchedule()
    {
        SchedulerConfig sd = NoiseSchedulers.Load(ParityConfig).Config;   // a DDIM file
        var s = Assert.IsType<PndmScheduler>(NoiseSchedulers.Create(SchedulerKind.Pndm, sd));
        Assert.True(s.SkipPrkSteps);
        Assert.Equal(1, s.Config.StepsOffset);
        Assert.False(s.Config.SetAlphaToOne);
        Assert.Equal(0.99915f, s.Schedule.AlphasCumprod[0]);
    }

    [Fact]
    public void SchedulerKind_EulerKarras_SetsKarrasSigmas_AndEulerDoesNot()
    {
        SchedulerConfig dpmKarras = SchedulerConfig.ForClass(SchedulerConfig.DpmSolverMultistepClassName) with { UseKarrasSigmas = true };
        Assert.True(Assert.IsType<EulerDiscreteScheduler>(NoiseSchedulers.Create(SchedulerKind.EulerKarras, dpmKarras)).Config.UseKarrasSigmas);
        Assert.False(Assert.IsType<EulerDiscreteScheduler>(NoiseSchedulers.Create(SchedulerKind.Euler, dpmKarras)).Config.UseKarrasSigmas);
        Assert.Equal(InterpolationType.Linear, SchedulerKind.Euler.ConfigFor(dpmKarras).InterpolationType);
    }

    [Theory]
    [InlineData("num_train_timesteps", "1000000000")]
    [InlineData("num_train_timesteps", "1")]
    [InlineData("beta_end", "1.5")]
    [InlineData("beta_end", "0")]
    [InlineData("beta_start", "0")]
    [InlineData("beta_start", "-0.1")]
    [InlineData("steps_offset", "10000")]
    [InlineData("steps_offset", "-1")]
    public void Load_RefusesNonsense_NamingFileAndKey(string key, string value)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(ParityConfig))!.AsObject();
        node[key] = System.Text.Json.Nodes.JsonNode.Parse(value);
        string path = Path.Combine(TestEnvironment.NewTempDir(), "scheduler_config.json");
        File.WriteAllText(path, node.ToJsonString());
        var e = Assert.Throws<ConfigException>(() => NoiseSchedulers.Load(path));
        Assert.Equal(key, e.Key);
        Assert.Contains(path, e.Message);
    }
}
