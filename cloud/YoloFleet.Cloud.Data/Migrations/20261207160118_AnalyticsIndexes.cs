using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace YoloFleet.Cloud.Data.Migrations
{
    /// <inheritdoc />
    public partial class AnalyticsIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "ix_verifications_edge_captured_at",
                table: "verifications",
                column: "captured_at",
                filter: "role = 'edge'");

            migrationBuilder.CreateIndex(
                name: "ix_telemetry_device_id_received_at",
                table: "telemetry",
                columns: new[] { "device_id", "received_at" });

            migrationBuilder.CreateIndex(
                name: "ix_hard_frames_captured_at",
                table: "hard_frames",
                column: "captured_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_verifications_edge_captured_at",
                table: "verifications");

            migrationBuilder.DropIndex(
                name: "ix_telemetry_device_id_received_at",
                table: "telemetry");

            migrationBuilder.DropIndex(
                name: "ix_hard_frames_captured_at",
                table: "hard_frames");
        }
    }
}
