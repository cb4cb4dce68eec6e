using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace YoloFleet.Cloud.Data.Migrations
{
    /// <inheritdoc />
    public partial class InitialSchema : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "devices",
                columns: table => new
                {
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    first_seen_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    last_seen_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_devices", x => x.device_id);
                });

            migrationBuilder.CreateTable(
                name: "frames",
                columns: table => new
                {
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    sequence = table.Column<long>(type: "bigint", nullable: false),
                    captured_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    received_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    committed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "clock_timestamp()"),
                    model_version = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    frame_width = table.Column<int>(type: "integer", nullable: false),
                    frame_height = table.Column<int>(type: "integer", nullable: false),
                    inference_ms = table.Column<float>(type: "real", nullable: false),
                    frame_ref = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    detection_count = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_frames", x => new { x.device_id, x.sequence });
                    table.ForeignKey(
                        name: "FK_frames_devices_device_id",
                        column: x => x.device_id,
                        principalTable: "devices",
                        principalColumn: "device_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "detections",
                columns: table => new
                {
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    sequence = table.Column<long>(type: "bigint", nullable: false),
                    idx = table.Column<short>(type: "smallint", nullable: false),
                    captured_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    class_id = table.Column<short>(type: "smallint", nullable: false),
                    score = table.Column<float>(type: "real", nullable: false),
                    x1 = table.Column<float>(type: "real", nullable: false),
                    y1 = table.Column<float>(type: "real", nullable: false),
                    x2 = table.Column<float>(type: "real", nullable: false),
                    y2 = table.Column<float>(type: "real", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_detections", x => new { x.device_id, x.sequence, x.idx });
                    table.ForeignKey(
                        name: "FK_detections_frames_device_id_sequence",
                        columns: x => new { x.device_id, x.sequence },
                        principalTable: "frames",
                        principalColumns: new[] { "device_id", "sequence" },
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_frames_captured_at",
                table: "frames",
                column: "captured_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "detections");

            migrationBuilder.DropTable(
                name: "frames");

            migrationBuilder.DropTable(
                name: "devices");
        }
    }
}
