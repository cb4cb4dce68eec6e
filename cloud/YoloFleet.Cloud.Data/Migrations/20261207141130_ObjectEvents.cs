using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace YoloFleet.Cloud.Data.Migrations
{
    /// <inheritdoc />
    public partial class ObjectEvents : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "object_events",
                columns: table => new
                {
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    sequence = table.Column<long>(type: "bigint", nullable: false),
                    object_id = table.Column<long>(type: "bigint", nullable: false),
                    kind = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    revision = table.Column<int>(type: "integer", nullable: false),
                    class_id = table.Column<int>(type: "integer", nullable: false),
                    at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    first_seen = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    last_seen = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    best_score = table.Column<float>(type: "real", nullable: false),
                    zones = table.Column<string>(type: "jsonb", nullable: false),
                    lines = table.Column<string>(type: "jsonb", nullable: false),
                    best_crop_jpeg = table.Column<byte[]>(type: "bytea", nullable: true),
                    box_x1 = table.Column<float>(type: "real", nullable: true),
                    box_y1 = table.Column<float>(type: "real", nullable: true),
                    box_x2 = table.Column<float>(type: "real", nullable: true),
                    box_y2 = table.Column<float>(type: "real", nullable: true),
                    frame_width = table.Column<int>(type: "integer", nullable: false),
                    frame_height = table.Column<int>(type: "integer", nullable: false),
                    model_version = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    model_sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    recovered = table.Column<bool>(type: "boolean", nullable: false),
                    received_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_object_events", x => new { x.device_id, x.sequence });
                    table.CheckConstraint("ck_object_events_kind", "kind IN ('started', 'updated', 'ended')");
                    table.ForeignKey(
                        name: "FK_object_events_devices_device_id",
                        column: x => x.device_id,
                        principalTable: "devices",
                        principalColumn: "device_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_object_events_at",
                table: "object_events",
                column: "at");

            migrationBuilder.CreateIndex(
                name: "ix_object_events_device_object_revision",
                table: "object_events",
                columns: new[] { "device_id", "object_id", "revision" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "object_events");
        }
    }
}
