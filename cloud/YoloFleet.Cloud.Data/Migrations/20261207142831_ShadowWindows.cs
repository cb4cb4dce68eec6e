using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace YoloFleet.Cloud.Data.Migrations
{
    /// <inheritdoc />
    public partial class ShadowWindows : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "shadow_windows",
                columns: table => new
                {
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    sequence = table.Column<long>(type: "bigint", nullable: false),
                    active_sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    candidate_sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    window_start = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    window_end = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    frames = table.Column<long>(type: "bigint", nullable: false),
                    shadowed_frames = table.Column<long>(type: "bigint", nullable: false),
                    skipped_for_budget = table.Column<long>(type: "bigint", nullable: false),
                    matched = table.Column<long>(type: "bigint", nullable: false),
                    only_active = table.Column<long>(type: "bigint", nullable: false),
                    only_candidate = table.Column<long>(type: "bigint", nullable: false),
                    active_p50_ms = table.Column<float>(type: "real", nullable: false),
                    active_p95_ms = table.Column<float>(type: "real", nullable: false),
                    candidate_p50_ms = table.Column<float>(type: "real", nullable: false),
                    candidate_p95_ms = table.Column<float>(type: "real", nullable: false),
                    throttled_frames = table.Column<long>(type: "bigint", nullable: false),
                    shadow_cpu_share = table.Column<float>(type: "real", nullable: false),
                    received_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_shadow_windows", x => new { x.device_id, x.sequence });
                    table.CheckConstraint("ck_shadow_windows_frames", "shadowed_frames + skipped_for_budget <= frames AND throttled_frames <= shadowed_frames");
                    table.ForeignKey(
                        name: "FK_shadow_windows_devices_device_id",
                        column: x => x.device_id,
                        principalTable: "devices",
                        principalColumn: "device_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_shadow_windows_candidate_end",
                table: "shadow_windows",
                columns: new[] { "candidate_sha256", "window_end" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "shadow_windows");
        }
    }
}
