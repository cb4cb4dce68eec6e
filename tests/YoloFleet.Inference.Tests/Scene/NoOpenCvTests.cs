using System.Reflection;
using System.Runtime.Loader;

namespace YoloFleet.Inference.Tests.Scene;

/// <summary>
/// The arm64 agent build has no OpenCV native library. This runs the whole scene path (motion gate, regions, tracker,
/// zones, events) in a load context where OpenCvSharp cannot load at all, not even its managed assembly: any OpenCV
/// type touched on the way would throw.
/// </summary>
[Trait("Category", "Scene")]
public sealed class NoOpenCvTests
{
    [Fact]
    public void The_scene_path_runs_where_OpenCvSharp_cannot_load()
    {
        var context = new WithoutOpenCv();
        try
        {
            var probe = context.LoadFromAssemblyPath(typeof(SceneProbe).Assembly.Location).GetType(typeof(SceneProbe).FullName!)!;
            Assert.NotSame(typeof(SceneProbe), probe);

            var counts = (Dictionary<string, int>)probe.GetMethod(nameof(SceneProbe.Run))!.Invoke(null, null)!;

            SceneAnalyzerTests.AssertProbe(counts);
            Assert.DoesNotContain(context.Assemblies, assembly => assembly.GetName().Name!.StartsWith("OpenCvSharp", StringComparison.Ordinal));
            Assert.Contains(context.Assemblies, assembly => assembly.GetName().Name == "YoloFleet.Inference");
        }
        finally
        {
            context.Unload();
        }
    }

    [Fact]
    public void The_context_does_refuse_OpenCvSharp()
    {
        // The guard itself: reading an image (OpenCV) in that context fails.
        var context = new WithoutOpenCv();
        try
        {
            var imageFile = context.LoadFromAssemblyPath(typeof(ImageFile).Assembly.Location).GetType(typeof(ImageFile).FullName!)!;

            // Reflection already needs OpenCvSharp to describe the method (it returns a Mat); calling it would too.
            var error = Record.Exception(() => imageFile.GetMethod(nameof(ImageFile.Read))!.Invoke(null, ["any.jpg"]));

            var missing = Assert.IsType<FileNotFoundException>(error is TargetInvocationException { InnerException: { } inner } ? inner : error);
            Assert.Contains("OpenCvSharp", missing.Message);
        }
        finally
        {
            context.Unload();
        }
    }

    /// <summary>Loads the project's assemblies afresh and refuses OpenCvSharp's; everything else comes from the default context.</summary>
    private sealed class WithoutOpenCv() : AssemblyLoadContext("without-opencv", isCollectible: true)
    {
        private static readonly string[] OwnAssemblies = ["YoloFleet.Inference", "YoloFleet.Inference.Tests"];

        protected override Assembly? Load(AssemblyName assemblyName)
        {
            var name = assemblyName.Name ?? "";
            if (name.StartsWith("OpenCvSharp", StringComparison.Ordinal))
            {
                throw new FileNotFoundException($"{name} is not available here (the scene path must not need OpenCvSharp).");
            }

            if (Array.IndexOf(OwnAssemblies, name) >= 0)
            {
                return LoadFromAssemblyPath(Path.Combine(AppContext.BaseDirectory, name + ".dll"));
            }

            return null;
        }

        protected override nint LoadUnmanagedDll(string unmanagedDllName) =>
            unmanagedDllName.Contains("OpenCvSharpExtern", StringComparison.Ordinal)
                ? throw new DllNotFoundException($"{unmanagedDllName} is not available here.")
                : base.LoadUnmanagedDll(unmanagedDllName);
    }
}
