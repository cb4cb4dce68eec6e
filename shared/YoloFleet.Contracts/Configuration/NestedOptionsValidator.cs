using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Reflection;

namespace YoloFleet.Contracts.Configuration;

/// <summary>
/// Data annotations do not descend into nested configuration sections by themselves. This walks every nested options
/// object of a root (any property whose type is a class of the project's own, at any depth) and validates each,
/// naming the section in every message ("Agent:Outbox: ..."). The agent and the cloud both call it, so a section added
/// to either is validated without being listed anywhere, and a fix to how options are checked lands once.
/// </summary>
public static class NestedOptionsValidator
{
    /// <param name="root">The root options object (its own annotations are validated by the options framework).</param>
    /// <param name="prefix">The root section's name: "Agent", "Cloud".</param>
    public static IEnumerable<ValidationResult> ValidateSections(object root, string prefix)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var results = new List<ValidationResult>();
        Walk(root, prefix, "", results, new HashSet<object>(ReferenceEqualityComparer.Instance) { root });
        return results;
    }

    private static void Walk(object options, string prefix, string path, List<ValidationResult> results, HashSet<object> seen)
    {
        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || !IsSection(property.PropertyType))
            {
                continue;
            }

            var value = property.GetValue(options);
            if (value is null || !seen.Add(value))
            {
                continue;
            }

            var section = path.Length == 0 ? property.Name : path + ":" + property.Name;
            var found = new List<ValidationResult>();
            Validator.TryValidateObject(value, new ValidationContext(value), found, validateAllProperties: true);
            foreach (var result in found)
            {
                results.Add(new ValidationResult($"{prefix}:{section}: {result.ErrorMessage}", [.. result.MemberNames.Select(m => $"{section}:{m}")]));
            }

            Walk(value, prefix, section, results, seen);
        }
    }

    /// <summary>A nested section: a class of the project's own, not text or a collection.</summary>
    private static bool IsSection(Type type) =>
        type.IsClass && type != typeof(string) && !typeof(IEnumerable).IsAssignableFrom(type)
        && type.Namespace?.StartsWith("YoloFleet", StringComparison.Ordinal) == true;
}
