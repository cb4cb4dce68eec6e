using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace YoloFleet.Cloud.Data.Migrations
{
    /// <inheritdoc />
    public partial class StagedRollouts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // The old rollouts table was a placeholder nothing wrote to; the rollout grain's table replaces it whole.
            migrationBuilder.DropTable(name: "rollouts");

            migrationBuilder.CreateTable(
                name: "rollouts",
                columns: table => new
                {
                    id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    model_name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    candidate_version = table.Column<int>(type: "integer", nullable: false),
                    baseline_version = table.Column<int>(type: "integer", nullable: false),
                    target_kind = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    target_group = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    target_devices = table.Column<string[]>(type: "text[]", nullable: false),
                    stages = table.Column<string>(type: "jsonb", nullable: false),
                    gates = table.Column<string>(type: "jsonb", nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    stage_index = table.Column<int>(type: "integer", nullable: false),
                    stage_started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    previous_models = table.Column<string>(type: "jsonb", nullable: false),
                    assignment_ids = table.Column<string[]>(type: "text[]", nullable: false),
                    last_gate = table.Column<string>(type: "jsonb", nullable: true),
                    reason = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false, defaultValue: ""),
                    created_by = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_rollouts", x => x.id);
                    table.CheckConstraint("ck_rollouts_state", "state IN ('running', 'paused', 'completed', 'rolled-back', 'aborted', 'stopped')");
                    table.CheckConstraint("ck_rollouts_target_kind", "target_kind IN ('fleet', 'group', 'devices')");
                });

            migrationBuilder.CreateIndex(
                name: "ix_rollouts_state",
                table: "rollouts",
                column: "state");

            migrationBuilder.CreateTable(
                name: "rollout_events",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityAlwaysColumn),
                    rollout_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    actor = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    kind = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    from_state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    to_state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    stage_index = table.Column<int>(type: "integer", nullable: false),
                    reason = table.Column<string>(type: "character varying(2048)", maxLength: 2048, nullable: false),
                    figures = table.Column<string>(type: "jsonb", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_rollout_events", x => x.id);
                    table.ForeignKey(
                        name: "FK_rollout_events_rollouts_rollout_id",
                        column: x => x.rollout_id,
                        principalTable: "rollouts",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_rollout_events_rollout",
                table: "rollout_events",
                columns: new[] { "rollout_id", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(name: "rollout_events");
            migrationBuilder.DropTable(name: "rollouts");

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
                name: "IX_rollouts_model_version_id",
                table: "rollouts",
                column: "model_version_id");

            migrationBuilder.CreateIndex(
                name: "ix_rollouts_state",
                table: "rollouts",
                column: "state");
        }
    }
}
