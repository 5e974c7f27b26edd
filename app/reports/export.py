"""An indicator report as CSV or XLSX bytes: the same columns as the JSON rows, in the same order.

The XLSX workbook is written in openpyxl's write-only mode (rows streamed, never a sheet held in
memory): a sheet with the report (a title block, Vietnamese column headings with the JSON names
beneath) and a sheet explaining every column."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from app.reports.service import COLUMNS, IndicatorReport, row_dict

#: Vietnamese heading and English meaning of each column (docs/reports.md has the full definitions).
LABELS: dict[str, tuple[str, str]] = {
    "agency": ("Mã định danh", "agency code"),
    "name": ("Tên cơ quan", "name"),
    "parent": ("Mã cơ quan cấp trên", "parent code"),
    "status": ("Trạng thái", "directory status"),
    "rollup": ("Tổng hợp cả đơn vị trực thuộc", "rolled up over the subtree"),
    "agencies": ("Số cơ quan", "agencies counted"),
    "agencies_without_traffic": ("Số cơ quan chưa kết nối", "active agencies without traffic"),
    "no_traffic": ("Không phát sinh văn bản", "no traffic in the period"),
    "merged_codes": ("Mã đã đóng gộp vào", "closed codes counted here"),
    "sent": ("VB gửi", "documents sent"),
    "sent_api": ("Gửi qua API", "sent through the REST API"),
    "sent_vxp": ("Gửi qua /vxp", "sent through /vxp"),
    "sent_axis": ("Gửi qua Trục quốc gia", "came through the national axis"),
    "sent_hub": ("Do nền tảng gửi", "written by the hub"),
    "sent_new": ("VB mới gửi", "new documents sent"),
    "sent_revoke": ("Thu hồi", "revokes sent"),
    "sent_update": ("Cập nhật", "updates sent"),
    "sent_replace": ("Thay thế", "replacements sent"),
    "sent_status": ("Trạng thái gửi", "status messages sent"),
    "received": ("VB nhận", "documents received"),
    "received_api": ("Nhận (gửi qua API)", "received, sent through the REST API"),
    "received_vxp": ("Nhận (gửi qua /vxp)", "received, sent through /vxp"),
    "received_axis": ("Nhận từ Trục quốc gia", "received from the national axis"),
    "received_hub": ("Nhận từ nền tảng", "received from the hub"),
    "received_new": ("VB mới nhận", "new documents received"),
    "received_revoke": ("Thu hồi nhận", "revokes received"),
    "received_update": ("Cập nhật nhận", "updates received"),
    "received_replace": ("Thay thế nhận", "replacements received"),
    "received_status": ("Trạng thái nhận", "status messages received"),
    "expected_to_handle": ("VB phải xử lý", "new documents expected to be handled"),
    "withdrawn": ("VB bị thu hồi/lấy lại", "revoked or recalled"),
    "acknowledged_01": ("Đã đến (01)", "reached 01"),
    "registered_03": ("Đã tiếp nhận (03)", "reached 03"),
    "completed_06": ("Hoàn thành (06)", "reached 06"),
    "acknowledged_01_share": ("Tỷ lệ 01", "share reaching 01"),
    "registered_03_share": ("Tỷ lệ 03", "share reaching 03"),
    "completed_06_share": ("Tỷ lệ 06", "share reaching 06"),
    "median_working_days_to_03": ("Trung vị ngày làm việc đến 03", "median working days to 03"),
    "p90_working_days_to_03": ("P90 ngày làm việc đến 03", "90th percentile, working days to 03"),
    "median_working_days_to_06": ("Trung vị ngày làm việc đến 06", "median working days to 06"),
    "p90_working_days_to_06": ("P90 ngày làm việc đến 06", "90th percentile, working days to 06"),
    "not_registered_03": ("Chưa tiếp nhận", "not yet at 03"),
    "overdue": ("Quá hạn xử lý", "past DueDate without 06"),
    "completed_late": ("Hoàn thành trễ hạn", "06 after DueDate"),
    "directives": ("VB chỉ đạo", "directives (SteeringType 1)"),
    "directives_open": ("VB chỉ đạo chưa hoàn thành", "directives without 06"),
    "delivered": ("Chuyển thành công", "deliveries delivered"),
    "failed": ("Chuyển lỗi", "deliveries failed"),
    "discarded": ("Đã hủy chuyển", "deliveries discarded"),
    "paper_sent": ("VB giấy gửi", "documents sent on paper"),
    "electronic_share": ("Tỷ lệ gửi điện tử", "share sent electronically"),
    "electronic_target": ("Chỉ tiêu", "target"),
    "meets_target": ("Đạt chỉ tiêu", "meets the target"),
    "electronic_share_source": ("Nguồn số liệu VB giấy", "source of the paper counts"),
}
assert set(LABELS) == set(COLUMNS), "every column has a heading"

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else value


def to_csv(report: IndicatorReport) -> bytes:
    """UTF-8 with a BOM (so spreadsheet programs read the Vietnamese names), one row per report row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in report.rows:
        values = row_dict(row)
        writer.writerow([_cell_value(values[name]) for name in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: IndicatorReport) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Chi so")
    bold = Font(bold=True)

    def cells(values: list[Any], *, strong: bool = False) -> list[Any]:
        if not strong:
            return values
        result = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            cell.font = bold
            result.append(cell)
        return result

    sheet.append(
        cells(["Báo cáo chỉ số liên thông văn bản điện tử / Document exchange indicators"], strong=True)
    )
    sheet.append(["Kỳ báo cáo / Period", report.period.label, report.period.first, report.period.last])
    sheet.append(["Phạm vi / Scope", report.scope, "tổng hợp / rolled up" if report.rollup else ""])
    sheet.append(["Số liệu đến / As of", report.as_of.isoformat()])
    if report.calendar_note:
        sheet.append(["Lịch làm việc / Calendar", report.calendar_note])
    sheet.append([])
    sheet.append(cells([LABELS[name][0] for name in COLUMNS], strong=True))
    sheet.append(list(COLUMNS))
    for row in report.rows:
        values = row_dict(row)
        sheet.append([values[name] for name in COLUMNS])

    legend = workbook.create_sheet("Giai thich")
    legend.append(cells(["Cột / Column", "Tiêu đề / Heading", "Nghĩa / Meaning"], strong=True))
    for name in COLUMNS:
        legend.append([name, *LABELS[name]])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
