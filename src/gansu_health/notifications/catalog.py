"""The words of patient messages, per language: zh (the default) and en.

``messages`` maps a message kind to (title, text); texts are ``str.format`` templates whose
fields the templates module fills (``where`` is the clinic and time, ``refund`` and ``offers``
whole sentences or nothing).
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, Any]] = {
    "zh": {
        "periods": {"morning": "上午", "afternoon": "下午", "night": "夜间"},
        "reasons": {"patient": "您已取消", "clinic-stopped": "停诊", "hold-expired": "锁号超时",
                    "institution": "医院取消", "waitlist-closed": "候补结束",
                    "duplicate": "重复支付", "late-payment": "支付时预约已取消",
                    "limit-reached": "超出个人预约限额"},
        "number": " 第{n}号",
        "refund-note": "已支付的挂号费{amount}将原路退回。",
        "offers": "可改约：{items}。",
        "list-separator": "；",
        "arrived": "您已签到",
        "starting-soon": "您预约的就诊即将开始",
        "doctor-away": "医生停诊",
        "registration-fee": "挂号费",
        "clinic-fees": "诊间费用",
        "messages": {
            "waiting-reminder": ("候诊提醒",
                                 "{lead}：{where}，前面还有{waiting}位候诊，请留意叫号。"),
            "booking-confirmed": ("预约成功", "预约成功：{where}。请于就诊前30分钟内到院签到。"),
            "waitlist-offered": ("候补成功",
                                 "候补成功：{where}已为您保留，请在{until}前支付并确认。"),
            "clinic-stopped": ("停诊通知",
                               "停诊通知：{where}因“{why}”停诊，您的预约已取消。{refund}{offers}"),
            "booking-cancelled": ("预约已取消", "预约已取消（{why}）：{where}。{refund}"),
            "suspended": ("预约暂停", "因爽约，您的预约资格暂停{days}天（至{until}）。"),
            "payment-receipt": ("支付成功", "支付成功：{amount}（{what}），订单号{order}。"),
            "refund-receipt": ("退款成功",
                               "退款成功：{amount}已原路退回（{why}），订单号{order}。"),
        },
    },
    "en": {
        "periods": {"morning": "morning", "afternoon": "afternoon", "night": "evening"},
        "reasons": {"patient": "cancelled by you", "clinic-stopped": "clinic stopped",
                    "hold-expired": "the hold ran out", "institution": "cancelled by the hospital",
                    "waitlist-closed": "the waitlist closed", "duplicate": "paid twice",
                    "late-payment": "the booking was cancelled before the payment arrived",
                    "limit-reached": "over your booking limit"},
        "number": ", No. {n}",
        "refund-note": " The registration fee of {amount} will be refunded to where it came from.",
        "offers": " You may rebook: {items}.",
        "list-separator": "; ",
        "arrived": "You have checked in",
        "starting-soon": "Your appointment starts soon",
        "doctor-away": "the doctor is away",
        "registration-fee": "registration fee",
        "clinic-fees": "clinic charges",
        "messages": {
            "waiting-reminder": ("Waiting-room reminder",
                                 "{lead}: {where}. {waiting} patient(s) ahead of you; please "
                                 "listen for your number."),
            "booking-confirmed": ("Booking confirmed",
                                  "Booking confirmed: {where}. Please check in at the hospital "
                                  "within 30 minutes before your time."),
            "waitlist-offered": ("Waitlist number for you",
                                 "A number came free for you: {where}. Please pay and confirm "
                                 "before {until}."),
            "clinic-stopped": ("Clinic stopped",
                               "Clinic stopped: {where} will not take place ({why}); your "
                               "booking is cancelled.{refund}{offers}"),
            "booking-cancelled": ("Booking cancelled",
                                  "Booking cancelled ({why}): {where}.{refund}"),
            "suspended": ("Booking suspended",
                          "Because of missed appointments you may not book for {days} days "
                          "(until {until})."),
            "payment-receipt": ("Payment received",
                                "Payment received: {amount} ({what}), order {order}."),
            "refund-receipt": ("Refund made",
                               "Refund made: {amount} returned to where it came from ({why}), "
                               "order {order}."),
        },
    },
}
