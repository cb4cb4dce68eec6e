using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace YoloFleet.Cloud.Data.Migrations
{
    /// <inheritdoc />
    public partial class ShadowVerdicts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "PK_verifications",
                table: "verifications");

            migrationBuilder.AddColumn<string>(
                name: "role",
                table: "verifications",
                type: "character varying(8)",
                maxLength: 8,
                nullable: false,
                defaultValue: "edge");

            migrationBuilder.AddColumn<string>(
                name: "model_sha256",
                table: "verifications",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "model_sha256",
                table: "hard_frames",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "shadow_detections",
                table: "hard_frames",
                type: "jsonb",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "shadow_model_sha256",
                table: "hard_frames",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "shadow_model_version",
                table: "hard_frames",
                type: "character varying(128)",
                maxLength: 128,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddPrimaryKey(
                name: "PK_verifications",
                table: "verifications",
                columns: new[] { "device_id", "sequence", "role" });

            migrationBuilder.CreateIndex(
                name: "ix_verifications_model_sha256_verified_at",
                table: "verifications",
                columns: new[] { "model_sha256", "verified_at" });

            migrationBuilder.AddCheckConstraint(
                name: "ck_verifications_role",
                table: "verifications",
                sql: "role IN ('edge', 'shadow')");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "PK_verifications",
                table: "verifications");

            migrationBuilder.DropIndex(
                name: "ix_verifications_model_sha256_verified_at",
                table: "verifications");

            migrationBuilder.DropCheckConstraint(
                name: "ck_verifications_role",
                table: "verifications");

            migrationBuilder.DropColumn(
                name: "role",
                table: "verifications");

            migrationBuilder.DropColumn(
                name: "model_sha256",
                table: "verifications");

            migrationBuilder.DropColumn(
                name: "model_sha256",
                table: "hard_frames");

            migrationBuilder.DropColumn(
                name: "shadow_detections",
                table: "hard_frames");

            migrationBuilder.DropColumn(
                name: "shadow_model_sha256",
                table: "hard_frames");

            migrationBuilder.DropColumn(
                name: "shadow_model_version",
                table: "hard_frames");

            migrationBuilder.AddPrimaryKey(
                name: "PK_verifications",
                table: "verifications",
                columns: new[] { "device_id", "sequence" });
        }
    }
}
