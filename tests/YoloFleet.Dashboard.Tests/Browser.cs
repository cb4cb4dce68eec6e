using Microsoft.Playwright;

namespace YoloFleet.Dashboard.Tests;

/// <summary>
/// Headless Chromium through Playwright: Debian's chromium package (deploy/install-deps.sh installs it; Playwright's own
/// browser download is neither used nor reachable). A missing browser fails the test with the fix, never skips it.
/// </summary>
public sealed class Browser : IAsyncDisposable
{
    /// <summary>Debian's chromium; YOLOFLEET_CHROMIUM names another build.</summary>
    public static string ExecutablePath => Environment.GetEnvironmentVariable("YOLOFLEET_CHROMIUM") ?? "/usr/bin/chromium";

    private readonly IPlaywright _playwright;

    private Browser(IPlaywright playwright, IBrowser chromium)
    {
        _playwright = playwright;
        Chromium = chromium;
    }

    public IBrowser Chromium { get; }

    public static async Task<Browser> LaunchAsync()
    {
        if (!File.Exists(ExecutablePath))
        {
            throw new InvalidOperationException(
                $"Chromium is not installed at {ExecutablePath}: the dashboard tests drive Debian's chromium. Install it with " +
                "`bash deploy/install-deps.sh` (as root) or `apt-get install -y chromium`, or set YOLOFLEET_CHROMIUM to a Chromium binary.");
        }

        var playwright = await Playwright.CreateAsync();
        try
        {
            // Root (CI, these sandboxes) cannot use Chromium's sandbox.
            var chromium = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = ExecutablePath, Headless = true, Args = ["--no-sandbox"] });
            return new Browser(playwright, chromium);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>A fresh page (its own session storage) on the silo; with <paramref name="apiKey"/>, already logged in.</summary>
    public async Task<IPage> OpenAsync(string baseAddress, string? apiKey, int width = 1400, int height = 1000)
    {
        var context = await Chromium.NewContextAsync(new() { BaseURL = baseAddress, ViewportSize = new() { Width = width, Height = height } });
        if (apiKey is not null)
        {
            await context.AddInitScriptAsync($"sessionStorage.setItem('yolofleet.apiKey', {System.Text.Json.JsonSerializer.Serialize(apiKey)});");
        }

        return await context.NewPageAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Chromium.DisposeAsync();
        _playwright.Dispose();
    }
}

/// <summary>Where the tests keep their screenshots and figures: YOLOFLEET_DASHBOARD_ARTIFACTS, else TestResults/dashboard in the repository.</summary>
public static class Artifacts
{
    public static string Folder
    {
        get
        {
            var folder = Environment.GetEnvironmentVariable("YOLOFLEET_DASHBOARD_ARTIFACTS") ?? Path.Combine(RepositoryRoot(), "TestResults", "dashboard");
            Directory.CreateDirectory(folder);
            return folder;
        }
    }

    /// <summary>Saves the page as NAME.png; <paramref name="fullPage"/> false keeps to the viewport (a 1,000-row table is a very tall page).</summary>
    public static async Task ScreenshotAsync(IPage page, string name, bool fullPage = true) =>
        await page.ScreenshotAsync(new() { Path = Path.Combine(Folder, name + ".png"), FullPage = fullPage, Timeout = 120_000 });

    public static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "YoloFleet.sln")))
            {
                return folder.FullName;
            }
        }

        throw new DirectoryNotFoundException("YoloFleet.sln not found above " + AppContext.BaseDirectory);
    }
}
