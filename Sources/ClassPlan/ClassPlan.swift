// ClassPlan
