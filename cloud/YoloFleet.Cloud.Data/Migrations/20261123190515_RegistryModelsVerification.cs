using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace YoloFleet.Cloud.Data.Migrations
{
    /// <inheritdoc />
    public partial class RegistryModelsVerification : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterColumn<DateTimeOffset>(
                name: "last_seen_at",
                table: "devices",
                type: "timestamp with time zone",
                nullable: true,
                oldClrType: typeof(DateTimeOffset),
                oldType: "timestamp with time zone");

            migrationBuilder.AlterColumn<DateTimeOffset>(
                name: "first_seen_at",
                table: "devices",
                type: "timestamp with time zone",
                nullable: true,
                oldClrType: typeof(DateTimeOffset),
                oldType: "timestamp with time zone");

            migrationBuilder.AddColumn<string>(
                name: "display_name",
                table: "devices",
                type: "character varying(128)",
                maxLength: 128,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "registered_at",
                table: "devices",
                type: "timestamp with time zone",
                nullable: false,
                defaultValueSql: "now()");

            migrationBuilder.AddColumn<string>(
                name: "status",
                table: "devices",
                type: "character varying(16)",
                maxLength: 16,
                nullable: false,
                defaultValue: "active");

            migrationBuilder.CreateTable(
                name: "hard_frames",
                columns: table => new
                {
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    sequence = table.Column<long>(type: "bigint", nullable: false),
                    detections_sequence = table.Column<long>(type: "bigint", nullable: false),
                    captured_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    received_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    model_version = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    reason = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    jpeg = table.Column<byte[]>(type: "bytea", nullable: false),
                    edge_detections = table.Column<string>(type: "jsonb", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_hard_frames", x => new { x.device_id, x.sequence });
                    table.ForeignKey(
                        name: "FK_hard_frames_devices_device_id",
                        column: x => x.device_id,
                        principalTable: "devices",
                        principalColumn: "device_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "models",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    version = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    sha256 = table.Column<string>(type: "character(64)", fixedLength: true, maxLength: 64, nullable: false),
                    size_bytes = table.Column<long>(type: "bigint", nullable: false),
                    format = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    manifest = table.Column<string>(type: "jsonb", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    signature = table.Column<byte[]>(type: "bytea", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_models", x => x.id);
                    table.CheckConstraint("ck_models_format", "format IN ('int8', 'fp32')");
                });

            migrationBuilder.CreateTable(
                name: "telemetry",
                columns: table => new
                {
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    sequence = table.Column<long>(type: "bigint", nullable: false),
                    sent_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    received_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    frames_per_second = table.Column<float>(type: "real", nullable: false),
                    cpu_percent = table.Column<float>(type: "real", nullable: false),
                    rss_mb = table.Column<float>(type: "real", nullable: false),
                    temperature_c = table.Column<float>(type: "real", nullable: true),
                    throttled_flags = table.Column<int>(type: "integer", nullable: true),
                    outbox_depth = table.Column<long>(type: "bigint", nullable: false),
                    outbox_evicted = table.Column<long>(type: "bigint", nullable: false),
                    frames_dropped = table.Column<long>(type: "bigint", nullable: false),
                    source_failures = table.Column<long>(type: "bigint", nullable: false),
                    source_error = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: false),
                    model_version = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    stages = table.Column<string>(type: "jsonb", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_telemetry", x => new { x.device_id, x.sequence });
                    table.ForeignKey(
                        name: "FK_telemetry_devices_device_id",
                        column: x => x.device_id,
                        principalTable: "devices",
                        principalColumn: "device_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "verifications",
                columns: table => new
                {
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    sequence = table.Column<long>(type: "bigint", nullable: false),
                    model_version = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    verifier_model = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    captured_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    verified_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    edge_boxes = table.Column<int>(type: "integer", nullable: false),
                    reference_boxes = table.Column<int>(type: "integer", nullable: false),
                    matched = table.Column<int>(type: "integer", nullable: false),
                    precision = table.Column<float>(type: "real", nullable: false),
                    recall = table.Column<float>(type: "real", nullable: false),
                    mean_iou = table.Column<float>(type: "real", nullable: false),
                    missed_classes = table.Column<int[]>(type: "integer[]", nullable: false),
                    calibration_count = table.Column<int[]>(type: "integer[]", nullable: false),
                    calibration_edge_sum = table.Column<float[]>(type: "real[]", nullable: false),
                    calibration_reference_sum = table.Column<float[]>(type: "real[]", nullable: false),
                    verify_ms = table.Column<float>(type: "real", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_verifications", x => new { x.device_id, x.sequence });
                    table.ForeignKey(
                        name: "FK_verifications_hard_frames_device_id_sequence",
                        columns: x => new { x.device_id, x.sequence },
                        principalTable: "hard_frames",
                        principalColumns: new[] { "device_id", "sequence" },
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "rollouts",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    model_version_id = table.Column<long>(type: "bigint", nullable: false),
                    cohort = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    percent = table.Column<int>(type: "integer", nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    completed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_rollouts", x => x.id);
                    table.CheckConstraint("ck_rollouts_percent", "percent BETWEEN 0 AND 100");
                    table.ForeignKey(
                        name: "FK_rollouts_models_model_version_id",
                        column: x => x.model_version_id,
                        principalTable: "models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateIndex(
                name: "ix_frames_received_at_brin",
                table: "frames",
                column: "received_at")
                .Annotation("Npgsql:IndexMethod", "brin");

            migrationBuilder.CreateIndex(
                name: "ix_detections_captured_at_brin",
                table: "detections",
                column: "captured_at")
                .Annotation("Npgsql:IndexMethod", "brin");

            migrationBuilder.CreateIndex(
                name: "ix_hard_frames_received_at",
                table: "hard_frames",
                column: "received_at");

            migrationBuilder.CreateIndex(
                name: "ux_models_name_version",
                table: "models",
                columns: new[] { "name", "version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_rollouts_model_version_id",
                table: "rollouts",
                column: "model_version_id");

            migrationBuilder.CreateIndex(
                name: "ix_rollouts_state",
                table: "rollouts",
                column: "state");

            migrationBuilder.CreateIndex(
                name: "ix_telemetry_received_at",
                table: "telemetry",
                column: "received_at");

            migrationBuilder.CreateIndex(
                name: "ix_verifications_model_version_verified_at",
                table: "verifications",
                columns: new[] { "model_version", "verified_at" });

            migrationBuilder.CreateIndex(
                name: "ix_verifications_verified_at",
                table: "verifications",
                column: "verified_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "rollouts");

            migrationBuilder.DropTable(
                name: "telemetry");

            migrationBuilder.DropTable(
                name: "verifications");

            migrationBuilder.DropTable(
                name: "models");

            migrationBuilder.DropTable(
                name: "hard_frames");

            migrationBuilder.DropIndex(
                name: "ix_frames_received_at_brin",
                table: "frames");

            migrationBuilder.DropIndex(
                name: "ix_detections_captured_at_brin",
                table: "detections");

            migrationBuilder.DropColumn(
                name: "display_name",
                table: "devices");

            migrationBuilder.DropColumn(
                name: "registered_at",
                table: "devices");

            migrationBuilder.DropColumn(
                name: "status",
                table: "devices");

            migrationBuilder.AlterColumn<DateTimeOffset>(
                name: "last_seen_at",
                table: "devices",
                type: "timestamp with time zone",
                nullable: false,
                defaultValue: new DateTimeOffset(new DateTime(1, 1, 1, 0, 0, 0, 0, DateTimeKind.Unspecified), new TimeSpan(0, 0, 0, 0, 0)),
                oldClrType: typeof(DateTimeOffset),
                oldType: "timestamp with time zone",
                oldNullable: true);

            migrationBuilder.AlterColumn<DateTimeOffset>(
                name: "first_seen_at",
                table: "devices",
                type: "timestamp with time zone",
                nullable: false,
                defaultValue: new DateTimeOffset(new DateTime(1, 1, 1, 0, 0, 0, 0, DateTimeKind.Unspecified), new TimeSpan(0, 0, 0, 0, 0)),
                oldClrType: typeof(DateTimeOffset),
                oldType: "timestamp with time zone",
                oldNullable: true);
        }
    }
}
