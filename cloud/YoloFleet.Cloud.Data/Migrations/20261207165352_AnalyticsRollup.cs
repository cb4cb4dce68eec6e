using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace YoloFleet.Cloud.Data.Migrations
{
    /// <inheritdoc />
    public partial class AnalyticsRollup : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "detections_hourly",
                columns: table => new
                {
                    hour = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    device_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    class_id = table.Column<short>(type: "smallint", nullable: false),
                    boxes = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_detections_hourly", x => new { x.hour, x.device_id, x.class_id });
                });

            // The boxes stored before the rollup existed; from here on FrameBatchWriter adds each batch's in its transaction.
            migrationBuilder.Sql("""
                INSERT INTO detections_hourly (hour, device_id, class_id, boxes)
                SELECT date_trunc('hour', captured_at, 'UTC'), device_id, class_id, count(*) FROM detections GROUP BY 1, 2, 3;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "detections_hourly");
        }
    }
}
