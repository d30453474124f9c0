using Microsoft.Playwright;
using Latent.Pipeline;

namespace Latent.Server.Tests;

/// <summary>
/// The page at / end to end in a real browser: Debian's chromium (installed by <c>scripts/setup.sh --test</c>) driven by
/// Playwright, which is pointed at it and never downloads a browser.
/// </summary>
[Collection(ServerCollection.Name)]
public class PageBrowserTests(ParityPipelineFixture fixture)
{
    /// <summary>Debian's chromium; LATENT_CHROMIUM overrides it.</summary>
    static string Chromium => Environment.GetEnvironmentVariable("LATENT_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    readonly StableDiffusionPipeline pipeline = fixture.Pipeline;

    [Fact]
    public async Task Page_FillsTheForm_ShowsLiveProgress_ThenADecodedImageWithParametersAndDownload()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: run 'bash scripts/setup.sh --test' (installs Debian's chromium), or set LATENT_CHROMIUM");
        await using var server = await TestServer.Start(pipeline);
        // Hold the job after its first step until the page's progress bar has shown it.
        using var shown = new ManualResetEventSlim();
        server.Server.Queue.StepDone = (_, step) => { if (step == 1) shown.Wait(TimeSpan.FromSeconds(30)); };

        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],   // root in a container: no sandbox; /dev/shm may be small
        });
        // The page's CSP forbids eval; Playwright's own predicates need it, so only the test's page bypasses it.
        IPage page = await browser.NewPageAsync(new BrowserNewPageOptions { BypassCSP = true });
        var consoleErrors = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") lock (consoleErrors) consoleErrors.Add(message.Text); };
        await page.GotoAsync(server.Server.Address.ToString());

        await page.FillAsync("#prompt", "a smiling cat");
        await page.FillAsync("#negative_prompt", "blurry");
        await page.FillAsync("#steps", "3");
        await page.FillAsync("#cfg_scale", "5");
        await page.FillAsync("#seed", "42");
        await page.SelectOptionAsync("#sampler_name", "DDIM");              // waits for the samplers from the API
        await page.FillAsync("#width", "24");
        await page.FillAsync("#height", "16");
        await page.FillAsync("#batch_size", "2");
        await page.ClickAsync("#generate");

        await page.WaitForFunctionAsync("document.getElementById('progress').value > 0 && document.getElementById('progress').value < 1");
        Assert.Contains("step 1 of 3", await page.TextContentAsync("#status"));
        shown.Set();

        ILocator images = page.Locator("#gallery figure img");
        await images.Nth(1).WaitForAsync();
        Assert.Equal(2, await images.CountAsync());
        int[] size = await page.EvaluateAsync<int[]>(
            "async () => { const img = document.querySelector('#gallery figure img'); await img.decode(); return [img.naturalWidth, img.naturalHeight]; }");
        Assert.Equal([24, 16], size);
        string caption = (await page.Locator("#gallery figcaption").First.TextContentAsync())!;
        Assert.Contains("a smiling cat\nNegative prompt: blurry\nSteps: 3, Sampler: DDIM, CFG scale: 5, Seed: 42, Size: 24x16", caption);
        ILocator link = page.Locator("#gallery figure a").First;
        Assert.StartsWith("data:image/png;base64,", await link.GetAttributeAsync("href"));
        Assert.EndsWith(".png", await link.GetAttributeAsync("download"));
        Assert.Contains("2 images, seed 42", await page.TextContentAsync("#status"));
        Assert.Equal(1.0, await page.EvaluateAsync<double>("document.getElementById('progress').value"));
        lock (consoleErrors) Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task Page_ShowsTheServersErrorForABadField()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: run 'bash scripts/setup.sh --test' (installs Debian's chromium), or set LATENT_CHROMIUM");
        await using var server = await TestServer.Start(pipeline);
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        IPage page = await browser.NewPageAsync();
        await page.GotoAsync(server.Server.Address.ToString());
        await page.FillAsync("#width", "30");
        await page.ClickAsync("#generate");
        await page.WaitForSelectorAsync("#status.error");
        Assert.Contains("422: width is 30; expected a multiple of 4", await page.TextContentAsync("#status"));
        Assert.Equal(0, await page.Locator("#gallery figure").CountAsync());
    }
}
