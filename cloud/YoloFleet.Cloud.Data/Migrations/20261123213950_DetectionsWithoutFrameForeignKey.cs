using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace YoloFleet.Cloud.Data.Migrations
{
    /// <inheritdoc />
    public partial class DetectionsWithoutFrameForeignKey : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "FK_detections_frames_device_id_sequence",
                table: "detections");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddForeignKey(
                name: "FK_detections_frames_device_id_sequence",
                table: "detections",
                columns: new[] { "device_id", "sequence" },
                principalTable: "frames",
                principalColumns: new[] { "device_id", "sequence" },
                onDelete: ReferentialAction.Cascade);
        }
    }
}
