using System.Collections.ObjectModel;
using Belay.TestSupport;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace Belay.EndToEnd.Tests.Hub;

/// <summary>
/// Debian's chromium, headless, driven through Debian's chromedriver by Selenium: a real browser
/// on the hub's page. Started with the flags that keep it off the network (this machine has
/// none beyond loopback) and out of the sandbox (root in CI). Each test gets its own profile.
/// </summary>
public sealed class Browser : IDisposable
{
    private readonly TempDir _profile = new("belay-chromium-");

    public Browser()
    {
        var chromium = ExternalTool.Require("chromium", "chromium");
        var driverPath = ExternalTool.Require("chromedriver", "chromium-driver");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driverPath)!, Path.GetFileName(driverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = chromium };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
            "--window-size=1480,900", "--user-data-dir=" + _profile.Path);
        Driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        Driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(30);
    }

    public ChromeDriver Driver { get; }

    public void Go(Uri hub, string path) => Driver.Navigate().GoToUrl(new Uri(hub, path));

    public void LogIn(Uri hub, string name, string password)
    {
        Go(hub, "login");
        Driver.FindElement(By.Id("name")).SendKeys(name);
        Driver.FindElement(By.Id("password")).SendKeys(password);
        Driver.FindElement(By.Id("login")).Click();
        Until(d => !d.Url.Contains("/login", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "leaving the login page");
    }

    public IWebElement Find(string css) => Driver.FindElement(By.CssSelector(css));

    public ReadOnlyCollection<IWebElement> FindAll(string css) => Driver.FindElements(By.CssSelector(css));

    public T Until<T>(Func<IWebDriver, T> condition, TimeSpan timeout, string what)
    {
        var wait = new WebDriverWait(Driver, timeout) { PollingInterval = TimeSpan.FromMilliseconds(50), Message = what };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        try
        {
            return wait.Until(condition);
        }
        catch (WebDriverTimeoutException)
        {
            Assert.Fail($"the page did not show {what} within {timeout.TotalSeconds:0} s. URL {Driver.Url}\n{Text()}");
            throw;
        }
    }

    public string Text()
    {
        try
        {
            return Driver.FindElement(By.TagName("body")).Text;
        }
        catch (WebDriverException e)
        {
            return e.Message;
        }
    }

    /// <summary>Saves a PNG of the page to artifacts/screenshots/ (docs/ takes copies of the fleet page and the live log).</summary>
    public string Screenshot(string name)
    {
        var dir = Path.Combine(BelayBinaries.RepoRoot, "artifacts", "screenshots");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name + ".png");
        Driver.GetScreenshot().SaveAsFile(path);
        return path;
    }

    public void Dispose()
    {
        try
        {
            Driver.Quit();
        }
        catch (WebDriverException)
        {
        }
        Driver.Dispose();
        _profile.Dispose();
    }
}
