using System.ComponentModel.DataAnnotations;
using YoloFleet.Contracts.Configuration;

namespace YoloFleet.Contracts.Tests.Configuration;

public sealed class NestedOptionsValidatorTests
{
    [Fact]
    public void Every_nested_section_at_any_depth_is_validated_and_named_in_the_message()
    {
        var root = new Root { Outer = new Outer { Count = 0, Inner = new Inner { Name = "" } } };

        var results = NestedOptionsValidator.ValidateSections(root, "Agent").ToList();

        Assert.Equal(2, results.Count);
        Assert.Contains(results, r => r.ErrorMessage!.StartsWith("Agent:Outer: ", StringComparison.Ordinal) && r.MemberNames.Single() == "Outer:Count");
        Assert.Contains(results, r => r.ErrorMessage!.StartsWith("Agent:Outer:Inner: ", StringComparison.Ordinal) && r.MemberNames.Single() == "Outer:Inner:Name");
    }

    [Fact]
    public void A_valid_tree_and_sections_left_null_give_nothing_and_a_cycle_ends()
    {
        var root = new Root { Outer = new Outer { Count = 3, Inner = new Inner { Name = "x" } } };
        Assert.Empty(NestedOptionsValidator.ValidateSections(root, "Cloud"));
        Assert.Empty(NestedOptionsValidator.ValidateSections(new Root { Outer = null }, "Cloud"));

        var loop = new Loop();
        loop.Next = loop;
        Assert.Empty(NestedOptionsValidator.ValidateSections(loop, "Cloud"));
    }

    [Fact]
    public void IValidatableObject_sections_are_asked_too()
    {
        var results = NestedOptionsValidator.ValidateSections(new Root { Outer = new Outer { Count = 1, Inner = new Inner { Name = "forbidden" } } }, "Agent");
        Assert.Equal("Agent:Outer:Inner: the name 'forbidden' is not allowed", Assert.Single(results).ErrorMessage);
    }

    private sealed class Root
    {
        public Outer? Outer { get; set; } = new();

        public string Text { get; set; } = "";

        public List<string> Items { get; set; } = [];
    }

    private sealed class Outer
    {
        [Range(1, 10)]
        public int Count { get; set; } = 1;

        public Inner Inner { get; set; } = new();
    }

    private sealed class Inner : IValidatableObject
    {
        [Required(AllowEmptyStrings = false)]
        public string Name { get; set; } = "n";

        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (Name == "forbidden")
            {
                yield return new ValidationResult($"the name '{Name}' is not allowed");
            }
        }
    }

    private sealed class Loop
    {
        public Loop? Next { get; set; }
    }
}
