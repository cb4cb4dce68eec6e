using System.Net;
using System.Net.Sockets;

namespace YoloFleet.Cloud.Net;

/// <summary>Free TCP ports on 127.0.0.1, for single-machine runs (demo, tests) that must not collide with other services.</summary>
public static class LoopbackPorts
{
    public static int GetFree()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
