using Latent.Core.Config;
using Latent.TextEncoder.Captions;
using Latent.Training.TextEncoder;

namespace Latent.Training.Tests.TextEncoder;

public class CaptionTemplatesTests
{
    [Theory]
    [InlineData("{caption}", "cat face", "cat face")]
    [InlineData("{a} {caption}", "cat face", "a cat face")]
    [InlineData("an emoji of {a} {caption}", "cat face", "an emoji of a cat face")]
    [InlineData("an emoji of {a} {caption}", "ice cube", "an emoji of an ice cube")]
    [InlineData("{a} {caption}", "Owl", "an Owl")]
    public void Apply_FillsCaptionAndArticle(string template, string caption, string expected) =>
        Assert.Equal(expected, CaptionTemplates.Apply(template, caption));

    [Theory]
    [InlineData("an emoji")]
    [InlineData("{caption} and {caption}")]
    public void Apply_TemplateWithoutOneSlot_Throws(string template)
    {
        var e = Assert.Throws<ArgumentException>(() => CaptionTemplates.Apply(template, "cat"));
        Assert.Contains($"'{template}'", e.Message);
        Assert.Contains("exactly one", e.Message);
    }

    [Fact]
    public void Sampler_IsPureFunctionOfStepAndSlot_AndCoversAllCaptionsAndTemplates()
    {
        var sampler = new ClipCaptionSampler(5, CaptionTemplates.Default);
        var again = new ClipCaptionSampler(5, CaptionTemplates.Default);
        string[] captions = ["cat face", "cat, pet"];
        var drawn = new HashSet<string>();
        for (long step = 0; step < 50; step++)
            for (int slot = 0; slot < 4; slot++)
            {
                string text = sampler.Draw(captions, step, slot);
                Assert.Equal(text, again.Draw(captions, step, slot));
                drawn.Add(text);
            }
        Assert.Equal(
            new[] { "cat face", "a cat face", "an emoji of a cat face", "cat, pet", "a cat, pet", "an emoji of a cat, pet" }.OrderBy(s => s),
            drawn.OrderBy(s => s));
        Assert.NotEqual(
            Enumerable.Range(0, 20).Select(i => sampler.Draw(captions, i, 0)),
            Enumerable.Range(0, 20).Select(i => new ClipCaptionSampler(6, CaptionTemplates.Default).Draw(captions, i, 0)));
    }

    [Fact]
    public void TrainingConfig_RoundTripsThroughJson_AndRejectsBadValues()
    {
        string path = Path.Combine(TestEnvironment.NewTempDir(), "training_config.json");
        var config = ClipTrainingConfig.Tiny with { Templates = ["{caption}", "a photo of {a} {caption}"], Seed = 9 };
        ConfigFile.Write(path, config);
        var read = ConfigFile.Read<ClipTrainingConfig>(path).Config;
        Assert.Equal(config.Templates, read.Templates);
        Assert.Equal(ConfigFile.ToJsonText(config), ConfigFile.ToJsonText(read));
        Assert.Contains("\"max_logit_scale\"", File.ReadAllText(path));

        var e = Assert.Throws<ArgumentException>(() => (ClipTrainingConfig.Tiny with { BatchSize = 1 }).Validate());
        Assert.Contains("batch_size is 1", e.Message);
        var t = Assert.Throws<ArgumentException>(() => (ClipTrainingConfig.Tiny with { Templates = ["an emoji"] }).Validate());
        Assert.Contains("'an emoji'", t.Message);
    }
}
