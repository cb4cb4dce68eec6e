using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace YoloFleet.Cloud.Data.Migrations
{
    /// <inheritdoc />
    public partial class ModelRegistry : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ux_models_name_version",
                table: "models");

            migrationBuilder.DropColumn(
                name: "signature",
                table: "models");

            migrationBuilder.AddColumn<string>(
                name: "active_model_sha256",
                table: "telemetry",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "candidate_model_sha256",
                table: "telemetry",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<bool>(
                name: "throttled",
                table: "telemetry",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            // A version is now a number per model name (docs/registry.md). EF's AlterColumn has no USING clause, which
            // PostgreSQL needs to turn text into integer.
            migrationBuilder.Sql("ALTER TABLE models ALTER COLUMN version TYPE integer USING version::integer;");

            migrationBuilder.AddColumn<long>(
                name: "job_id",
                table: "models",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "parent_id",
                table: "models",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "report",
                table: "models",
                type: "jsonb",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "signing_key_id",
                table: "models",
                type: "character varying(32)",
                maxLength: 32,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "model_sha256",
                table: "frames",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<bool>(
                name: "throttled",
                table: "frames",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<string>(
                name: "device_group",
                table: "devices",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "model_assignments",
                columns: table => new
                {
                    assignment_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    model_name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    slot = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    fp32_variant_id = table.Column<long>(type: "bigint", nullable: false),
                    int8_variant_id = table.Column<long>(type: "bigint", nullable: true),
                    selected_sha256 = table.Column<string>(type: "character(64)", fixedLength: true, maxLength: 64, nullable: true),
                    max_latency_ms = table.Column<float>(type: "real", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    selected_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    revision = table.Column<int>(type: "integer", nullable: false, defaultValue: 1),
                    published_revision = table.Column<int>(type: "integer", nullable: true),
                    published_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    token_expires_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_assignments", x => new { x.assignment_id, x.device_id });
                    table.CheckConstraint("ck_model_assignments_slot", "slot IN ('active', 'shadow')");
                    table.ForeignKey(
                        name: "FK_model_assignments_devices_device_id",
                        column: x => x.device_id,
                        principalTable: "devices",
                        principalColumn: "device_id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_model_assignments_models_fp32_variant_id",
                        column: x => x.fp32_variant_id,
                        principalTable: "models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "FK_model_assignments_models_int8_variant_id",
                        column: x => x.int8_variant_id,
                        principalTable: "models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "model_benchmarks",
                columns: table => new
                {
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    sha256 = table.Column<string>(type: "character(64)", fixedLength: true, maxLength: 64, nullable: false),
                    precision = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    p50_ms = table.Column<float>(type: "real", nullable: false),
                    p95_ms = table.Column<float>(type: "real", nullable: false),
                    runs = table.Column<int>(type: "integer", nullable: false),
                    throttled = table.Column<bool>(type: "boolean", nullable: false),
                    cpu_features = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    measured_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_benchmarks", x => new { x.device_id, x.sha256 });
                    table.ForeignKey(
                        name: "FK_model_benchmarks_devices_device_id",
                        column: x => x.device_id,
                        principalTable: "devices",
                        principalColumn: "device_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "model_events",
                columns: table => new
                {
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    sequence = table.Column<long>(type: "bigint", nullable: false),
                    assignment_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    stage = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    accepted = table.Column<bool>(type: "boolean", nullable: false),
                    reason_code = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    error = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    active_sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    candidate_sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    cpu_features = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    sent_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    received_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_events", x => new { x.device_id, x.sequence });
                    table.ForeignKey(
                        name: "FK_model_events_devices_device_id",
                        column: x => x.device_id,
                        principalTable: "devices",
                        principalColumn: "device_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "model_jobs",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    model_name = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    source_version = table.Column<int>(type: "integer", nullable: false),
                    inputs_key = table.Column<string>(type: "character(64)", fixedLength: true, maxLength: 64, nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    percent = table.Column<int>(type: "integer", nullable: false),
                    message = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: false),
                    error = table.Column<string>(type: "text", nullable: true),
                    inputs = table.Column<string>(type: "jsonb", nullable: false),
                    claimed_by = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: true),
                    result_variant_id = table.Column<long>(type: "bigint", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()"),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_jobs", x => x.id);
                    table.CheckConstraint("ck_model_jobs_percent", "percent BETWEEN 0 AND 100");
                    table.CheckConstraint("ck_model_jobs_state", "state IN ('queued', 'running', 'succeeded', 'failed')");
                    table.ForeignKey(
                        name: "FK_model_jobs_models_result_variant_id",
                        column: x => x.result_variant_id,
                        principalTable: "models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "model_selections",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    assignment_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    fp32_sha256 = table.Column<string>(type: "character(64)", fixedLength: true, maxLength: 64, nullable: false),
                    int8_sha256 = table.Column<string>(type: "character(64)", fixedLength: true, maxLength: 64, nullable: true),
                    fp32_p50_ms = table.Column<float>(type: "real", nullable: true),
                    int8_p50_ms = table.Column<float>(type: "real", nullable: true),
                    chosen_sha256 = table.Column<string>(type: "character(64)", fixedLength: true, maxLength: 64, nullable: false),
                    chosen_precision = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    basis = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    reason = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: false),
                    cpu_features = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    decided_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false, defaultValueSql: "now()")
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_selections", x => x.id);
                    table.CheckConstraint("ck_model_selections_precision", "chosen_precision IN ('int8', 'fp32')");
                    table.ForeignKey(
                        name: "FK_model_selections_devices_device_id",
                        column: x => x.device_id,
                        principalTable: "devices",
                        principalColumn: "device_id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_models_parent_id",
                table: "models",
                column: "parent_id");

            migrationBuilder.CreateIndex(
                name: "ix_models_sha256",
                table: "models",
                column: "sha256");

            migrationBuilder.CreateIndex(
                name: "ux_models_name_version_format",
                table: "models",
                columns: new[] { "name", "version", "format" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_devices_device_group",
                table: "devices",
                column: "device_group");

            migrationBuilder.CreateIndex(
                name: "IX_model_assignments_fp32_variant_id",
                table: "model_assignments",
                column: "fp32_variant_id");

            migrationBuilder.CreateIndex(
                name: "IX_model_assignments_int8_variant_id",
                table: "model_assignments",
                column: "int8_variant_id");

            migrationBuilder.CreateIndex(
                name: "ix_model_assignments_device_created",
                table: "model_assignments",
                columns: new[] { "device_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_model_events_assignment_device",
                table: "model_events",
                columns: new[] { "assignment_id", "device_id" });

            migrationBuilder.CreateIndex(
                name: "ix_model_events_received_at",
                table: "model_events",
                column: "received_at");

            migrationBuilder.CreateIndex(
                name: "IX_model_jobs_result_variant_id",
                table: "model_jobs",
                column: "result_variant_id");

            migrationBuilder.CreateIndex(
                name: "ix_model_jobs_state",
                table: "model_jobs",
                column: "state");

            migrationBuilder.CreateIndex(
                name: "ux_model_jobs_inputs_key",
                table: "model_jobs",
                column: "inputs_key",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_model_selections_device_decided",
                table: "model_selections",
                columns: new[] { "device_id", "decided_at" });

            migrationBuilder.AddForeignKey(
                name: "FK_models_models_parent_id",
                table: "models",
                column: "parent_id",
                principalTable: "models",
                principalColumn: "id",
                onDelete: ReferentialAction.Restrict);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "FK_models_models_parent_id",
                table: "models");

            migrationBuilder.DropTable(
                name: "model_assignments");

            migrationBuilder.DropTable(
                name: "model_benchmarks");

            migrationBuilder.DropTable(
                name: "model_events");

            migrationBuilder.DropTable(
                name: "model_jobs");

            migrationBuilder.DropTable(
                name: "model_selections");

            migrationBuilder.DropIndex(
                name: "IX_models_parent_id",
                table: "models");

            migrationBuilder.DropIndex(
                name: "ix_models_sha256",
                table: "models");

            migrationBuilder.DropIndex(
                name: "ux_models_name_version_format",
                table: "models");

            migrationBuilder.DropIndex(
                name: "ix_devices_device_group",
                table: "devices");

            migrationBuilder.DropColumn(
                name: "active_model_sha256",
                table: "telemetry");

            migrationBuilder.DropColumn(
                name: "candidate_model_sha256",
                table: "telemetry");

            migrationBuilder.DropColumn(
                name: "throttled",
                table: "telemetry");

            migrationBuilder.DropColumn(
                name: "job_id",
                table: "models");

            migrationBuilder.DropColumn(
                name: "parent_id",
                table: "models");

            migrationBuilder.DropColumn(
                name: "report",
                table: "models");

            migrationBuilder.DropColumn(
                name: "signing_key_id",
                table: "models");

            migrationBuilder.DropColumn(
                name: "model_sha256",
                table: "frames");

            migrationBuilder.DropColumn(
                name: "throttled",
                table: "frames");

            migrationBuilder.DropColumn(
                name: "device_group",
                table: "devices");

            migrationBuilder.Sql("ALTER TABLE models ALTER COLUMN version TYPE character varying(128) USING version::text;");

            migrationBuilder.AddColumn<byte[]>(
                name: "signature",
                table: "models",
                type: "bytea",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ux_models_name_version",
                table: "models",
                columns: new[] { "name", "version" },
                unique: true);
        }
    }
}
