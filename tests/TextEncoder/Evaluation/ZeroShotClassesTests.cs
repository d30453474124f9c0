using Latent.TextEncoder.Evaluation;

namespace Latent.TextEncoder.Tests.Evaluation;

public class ZeroShotClassesTests
{
    [Fact]
    public void Build_MergesSpellingsOfOneCategory_AndNamesThemReadably()
    {
        var classes = ZeroShotClasses.Build(["smileys-emotion", "Smileys & Emotion", "Flags", "flags", "extras-openmoji", null, " "]);
        Assert.Equal(["extras openmoji", "flags", "smileys and emotion"], classes.Names);
        Assert.Equal(2, classes.IndexOf("smileys-emotion"));
        Assert.Equal(2, classes.IndexOf("Smileys & Emotion"));
        Assert.Equal(1, classes.IndexOf("Flags"));
        Assert.Equal(-1, classes.IndexOf("objects"));
        Assert.Equal(-1, classes.IndexOf(null));
    }
}
