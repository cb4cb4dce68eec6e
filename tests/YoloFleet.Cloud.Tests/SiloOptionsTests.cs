using System.ComponentModel.DataAnnotations;
using System.Net;

namespace YoloFleet.Cloud.Tests;

public sealed class SiloOptionsTests
{
    [Fact]
    public void The_advertised_address_is_loopback_unless_set_and_a_host_name_resolves_at_start()
    {
        Assert.Equal(IPAddress.Loopback, new SiloOptions().ResolveAdvertisedAddress());
        Assert.Equal(IPAddress.Parse("10.1.2.3"), new SiloOptions { AdvertisedAddress = "10.1.2.3" }.ResolveAdvertisedAddress());

        // A name (a container's, in docker-compose.yml) becomes its address: "localhost" is in every /etc/hosts.
        Assert.True(IPAddress.IsLoopback(new SiloOptions { AdvertisedAddress = "localhost" }.ResolveAdvertisedAddress()));
    }

    [Theory]
    [InlineData("silo-1", true)]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("not a host", false)]
    [InlineData("", false)]
    public void Validation_names_the_setting_when_the_address_is_neither_an_ip_nor_a_host_name(string address, bool valid)
    {
        var options = new SiloOptions { AdvertisedAddress = address };
        var results = options.Validate(new ValidationContext(options)).ToList();
        if (valid)
        {
            Assert.Empty(results);
        }
        else
        {
            Assert.Contains(results, r => r.ErrorMessage!.Contains("Cloud:Silo:AdvertisedAddress", StringComparison.Ordinal));
        }
    }
}
